import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { fixtureDir, leftovers, rig, rigBin, uniqueName } from './helpers.js';

/** The CLI as a script sees it: raw output, colour codes and all, with the environment given (CI unset). */
async function raw(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  const result = await execa('node', [rigBin, ...args], { env: { CI: 'true', ...env }, extendEnv: true, reject: false, cwd });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Run a command in a real pseudo-terminal (util-linux script): what a person at a terminal gets. */
async function inTerminal(args: string[], env: Record<string, string> = {}) {
  const command = ['node', rigBin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  // A person at a terminal: no CI variable (with one, chalk turns colour off even in a terminal).
  const { CI: _ci, NO_COLOR: _no, FORCE_COLOR: _force, ...inherited } = process.env;
  const result = await execa('script', ['-qec', command, '/dev/null'], {
    env: { ...inherited, TERM: 'xterm-256color', ...env },
    extendEnv: false,
    reject: false,
  });
  return String(result.stdout);
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const ANSI = /\x1b\[[0-9;]*m/;

describe('output that can be trusted', () => {
  const name = uniqueName('out');
  const fixture = fixtureDir(`name: ${name}
domain: out.test
network: { internal: true }
configs: []
nodes:
  zeta.out.test:
    validate: ['true', 'test -n "a long check so the column is wide"']
  alpha.out.test:
    validate: ['false']
  mid.out.test:
`);
  let up: Awaited<ReturnType<typeof raw>>;

  beforeAll(async () => {
    up = await raw(['up', 'rig.yaml', '--json'], {}, fixture.dir);
    expect(up.exitCode, up.stderr).toBe(0);
  });
  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('up --json: every stderr line is JSON, stdout is one JSON document', () => {
    const events = jsonLines(up.stderr);
    expect(events.length).toBeGreaterThan(5);
    expect(events.some((e) => e.step === 'Create the rig network' && e.status === 'done')).toBe(true);
    expect(events.some((e) => e.level === 'note' && String(e.message).includes(`rig ${name} is up`))).toBe(true);
    const [status] = JSON.parse(up.stdout) as Array<{ name: string; nodes: Array<{ fqdn: string }> }>;
    expect(status.name).toBe(name);
  });

  it('lists nodes in a stable order, by name', async () => {
    const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout) as Array<{ nodes: Array<{ fqdn: string }> }>;
    expect(status.nodes.map((n) => n.fqdn)).toEqual(['alpha.out.test', 'mid.out.test', 'zeta.out.test']);
    const test = JSON.parse((await rig(['test', '--name', name, '--json'])).stdout) as Array<{ fqdn: string }>;
    expect(test.map((t) => t.fqdn)).toEqual(['alpha.out.test', 'zeta.out.test', 'zeta.out.test']);
  });

  it('facts NODE FACT --json is JSON; a failure with --json is one JSON line with its exit code', async () => {
    const fact = await raw(['facts', 'mid', 'hostname', '--name', name, '--json']);
    expect(JSON.parse(fact.stdout)).toEqual({ rig: name, fqdn: 'mid.out.test', name: 'mid', fact: 'hostname', value: 'mid' });
    const missing = await raw(['facts', 'nosuch', '--name', name, '--json']);
    expect(missing.exitCode).toBe(2);
    const [error] = jsonLines(missing.stderr);
    expect(error).toMatchObject({ level: 'error', exitCode: 2 });
    expect(String(error.hint)).toContain('alpha, mid, zeta'); // the nodes it has, as the user named the node (short)
  });

  it('images build --json: stdout is one JSON document, stderr JSON lines', async () => {
    const build = await raw(['images', 'build', '--json']);
    expect(build.exitCode, build.stderr).toBe(0);
    const images = JSON.parse(build.stdout) as Array<{ image: string; ref: string; built: boolean }>;
    expect(images.map((i) => i.image)).toEqual(['base', 'sidecar', 'tools', 'systemd', 'puppet']);
    expect(images.every((i) => /^rig\/[a-z]+:[0-9a-f]{12}$/.test(i.ref))).toBe(true);
    jsonLines(build.stderr); // throws if a line is not JSON
  });

  it('keeps table columns straight with colour on (FORCE_COLOR), and NO_COLOR turns colour off in a terminal', async () => {
    const coloured = await raw(['test', '--name', name], { FORCE_COLOR: '1' });
    expect(coloured.stdout).toMatch(ANSI);
    const plain = await raw(['test', '--name', name], { FORCE_COLOR: '0' });
    expect(plain.stdout).not.toMatch(ANSI);
    const untimed = (text: string) => text.replace(/\d+\.\d\d$/gm, 'S'); // the seconds differ from run to run
    expect(untimed(coloured.stdout.replace(/\x1b\[[0-9;]*m/g, ''))).toBe(untimed(plain.stdout));
    const result = plain.stdout
      .split('\n')
      .filter((l) => /^\S+\.out\.test {2}/.test(l))
      .map((l) => l.search(/ {2}(pass|fail)/));
    expect(new Set(result).size).toBe(1); // one column, whatever the colour

    expect(await inTerminal(['status', '--name', name])).toMatch(ANSI);
    const noColour = await inTerminal(['status', '--name', name], { NO_COLOR: '1' });
    expect(noColour).toContain('mid.out.test');
    expect(noColour).not.toMatch(ANSI);
    const error = await inTerminal(['facts', 'nosuch', '--name', name], { NO_COLOR: '1' });
    expect(error).toContain('No node nosuch');
    expect(error).not.toMatch(ANSI);
  });

  it('--verbose says what rig asked the engine and the host, with times; --quiet only drops notes', async () => {
    const verbose = await raw(['--verbose', 'status', '--name', name]);
    expect(verbose.stderr).toMatch(/rig: \[[\d:.]+\] docker GET \/networks: ok, \d+ ms/);
    const quiet = await raw(['--quiet', 'check', 'rig.yaml'], {}, fixture.dir);
    expect(quiet.exitCode).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  it('status --watch starts with where every node is, and picks up a rig started after it', async () => {
    const other = uniqueName('out2');
    const second = fixtureDir(`name: ${other}\ndomain: out.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  solo.out.test:\n`);
    const watch = execa('node', [rigBin, 'status', '--watch', '--json'], { env: { CI: 'true' }, reject: false });
    let errors = '';
    watch.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const seen: Array<Record<string, unknown>> = [];
    let buffer = '';
    const waiters: Array<() => void> = [];
    watch.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) seen.push(JSON.parse(line) as Record<string, unknown>);
      waiters.forEach((w) => w());
    });
    const sees = (rigName: string, node: string, stage: string) =>
      new Promise<void>((resolve, reject) => {
        const why = () => `no ${stage} stage of ${node} in: ${JSON.stringify(seen)}; stderr: ${errors}`;
        const timer = setTimeout(() => reject(new Error(why())), 60_000);
        const check = () => {
          if (!seen.some((e) => e.rig === rigName && e.fqdn === node && e.stage === stage)) return;
          clearTimeout(timer);
          resolve();
        };
        waiters.push(check);
        check();
      });
    try {
      // First where the rig that is up stands (nothing changes there), which also says the watch is following.
      await sees(name, 'zeta.out.test', 'ready'); // the last of them, by name
      expect(
        seen
          .filter((e) => e.rig === name)
          .slice(0, 3)
          .map((e) => `${e.fqdn} ${e.stage}`),
      ).toEqual(['alpha.out.test ready', 'mid.out.test ready', 'zeta.out.test ready']);
      const upSecond = await rig(['up', 'rig.yaml'], { cwd: second.dir });
      expect(upSecond.exitCode, upSecond.all).toBe(0);
      await sees(other, 'solo.out.test', 'ready');
    } finally {
      watch.kill('SIGINT');
      await watch;
      await rig(['down', '--name', other]);
      second.cleanup();
    }
    expect(await leftovers(other)).toEqual([]);
  });
});

describe('output of a failed up, and warnings', () => {
  it('prints the log tail once, and a hint that fits what is left', async () => {
    const name = uniqueName('outfail');
    const fixture = fixtureDir(
      `name: ${name}\ndomain: out.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  sad.out.test:\n    provision:\n      - shell: echo unique-line-7d3f; exit 3\n`,
    );
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(1);
      expect(up.stderr.split('unique-line-7d3f').length - 1).toBe(1); // the step's own echo, once
      expect(up.stderr).toContain(`rig ${name} was removed, nothing of it is left`);
      expect(up.stderr).not.toContain('see the whole log with: rig logs');
      expect(up.stderr).toContain('run it again with --keep-on-failure');
      expect(await leftovers(name)).toEqual([]);
      // --quiet: no progress, the error and its log tail only (one JSON line with --json).
      const quiet = await rig(['--quiet', 'up', 'rig.yaml'], { cwd: fixture.dir });
      expect(quiet.exitCode).toBe(1);
      expect(quiet.stderr).not.toContain('Create the rig network');
      expect(quiet.stderr).toMatch(/^rig: sad\.out\.test failed: .*\nits log ends:\n/);
      const quietJson = await raw(['--quiet', 'up', 'rig.yaml', '--json'], {}, fixture.dir);
      expect(jsonLines(quietJson.stderr)).toEqual([expect.objectContaining({ level: 'error', exitCode: 1 })]);
      const run = await rig(['run', 'rig.yaml', '--', 'true'], { cwd: fixture.dir }); // rig run's up says the same, once
      expect(run.exitCode).toBe(1);
      expect(run.stderr.split('unique-line-7d3f').length - 1, run.stderr).toBe(1);
      expect(run.stderr).toContain(`rig ${name} was removed, nothing of it is left`);
      expect(await leftovers(name)).toEqual([]);

      const kept = await rig(['up', 'rig.yaml', '--keep-on-failure'], { cwd: fixture.dir });
      expect(kept.exitCode).toBe(1);
      expect(kept.stderr).toContain('see the whole log with: rig logs sad.out.test');
      expect((await rig(['logs', 'sad', '--name', name])).stdout).toContain('unique-line-7d3f');
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
    expect(await leftovers(name)).toEqual([]);
  });

  it('warns of a node named like a setting, at its line, even with --quiet', async () => {
    const fixture = fixtureDir(`name: shallow\ndomain: lab.test\nconfigs: []\nnodes:\n  barn.lab.test:\n  mirrors: straleb.prod.example\n`);
    try {
      const check = await rig(['--quiet', 'check', 'rig.yaml'], { cwd: fixture.dir });
      expect(check.exitCode).toBe(0);
      expect(check.stderr).toMatch(/rig: warning: .*rig\.yaml:6: node mirrors\.lab\.test is named like the setting mirrors:/);
      const plan = await raw(['up', 'rig.yaml', '--dry-run', '--json'], {}, fixture.dir);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(jsonLines(plan.stderr)).toEqual([
        expect.objectContaining({ level: 'warning', message: expect.stringMatching(/rig\.yaml:6: node mirrors\.lab\.test is named like/) }),
      ]);
    } finally {
      fixture.cleanup();
    }
  });

  it('a usage error with --json is one JSON line with the usage as its hint; without --json it stays text', async () => {
    for (const args of [
      ['status', '--bogus', '--json'],
      ['up', '--json'],
    ]) {
      const usage = await raw(args);
      expect(usage.exitCode).toBe(2);
      expect(usage.stdout).toBe('');
      const lines = jsonLines(usage.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'error', exitCode: 2 });
      expect(String(lines[0].hint)).toContain(`usage: rig ${args[0]} [options]`);
    }
    expect(jsonLines((await raw(['status', '--bogus', '--json'])).stderr)[0].message).toBe("unknown option '--bogus'");
    // After --, --json is the command's, not rig's: the error stays text.
    const text = await raw(['exec', '--bogus', 'n', '--', 'x', '--json']);
    expect(text.exitCode).toBe(2);
    expect(text.stderr).toContain("error: unknown option '--bogus'");
  });

  it('-t without a terminal is exit 2 with a clear error', async () => {
    const exec = await rig(['exec', '-t', 'anything', '--', 'true']);
    expect(exec.exitCode).toBe(2);
    expect(exec.stderr).toContain("-t asks for a terminal, but rig's stdin is not one");
  });
});
