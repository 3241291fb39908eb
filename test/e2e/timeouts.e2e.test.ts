import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { containerName } from '../../src/labels.js';
import { eventually, fixtureDir, leftovers, rig, ended, killSpawned, spawnRig, uniqueName } from './helpers.js';

// Issue 21, items 21 (a deadline for every check), 22 (interrupts of test, update, exec --all and run's host
// command end what they started) and 8 (rig exec --all says which node failed).

const LXC_PATH = '/var/lib/lxc';

afterEach(() => {
  killSpawned();
});

/** A number no other test's sleep has: a sleep of it is found by its command line. */
const marker = () => `9${process.pid % 1000}${Math.floor(Math.random() * 1e6)}`;

describe('deadlines and interrupts of what rig runs in the nodes', () => {
  const name = uniqueName('tmo');
  // The checks and updates run scripts from the rig file's directory (mounted in the nodes): each test writes them.
  const fixture = fixtureDir(`name: ${name}
domain: t.test
network: { internal: true }
configs: []
validate_timeout: 4s
update: ['true']
provision:
  - shell: sh provision.sh "$(hostname)"
nodes:
  barn:
    roles: [db]
    validate: ['true', 'sh check.sh barn']
    update: ['sh update.sh barn']
  mill:
    validate_timeout: 10m
    validate: ['sh check.sh mill']
    update: ['sh update.sh mill']
  well:
    backend: lxc
    roles: [db]
    validate: ['sh check.sh well']
`);
  const scripts = (check: Record<string, string>, update: Record<string, string> = {}, provision: Record<string, string> = {}) => {
    const script = (cases: Record<string, string>) =>
      `case "$1" in\n${Object.entries(cases)
        .map(([node, body]) => `  ${node}) ${body} ;;`)
        .join('\n')}\nesac\n`;
    writeFileSync(join(fixture.dir, 'check.sh'), script(check));
    writeFileSync(join(fixture.dir, 'update.sh'), script(update));
    writeFileSync(join(fixture.dir, 'provision.sh'), script(provision));
  };

  /** The command lines of the processes in a node, as seen from outside it. */
  const processes = async (node: string): Promise<string[]> => {
    const container = containerName(name, node);
    const ps = ['/.rig/bin/ps', '-o', 'args'];
    const result =
      node === 'well'
        ? await execa('lxc-attach', ['-P', LXC_PATH, '-n', container, '--clear-env', '--', ...ps], { reject: false })
        : await execa('docker', ['exec', container, ...ps], { reject: false });
    return result.stdout.split('\n').slice(1);
  };
  const sleeping = async (node: string, mark: string) => (await processes(node)).some((p) => p.includes(`sleep ${mark}`));
  const gone = (node: string, mark: string) => eventually(async () => !(await sleeping(node, mark)), 30_000);

  beforeAll(async () => {
    scripts({});
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
  });
  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
    const lxc = (await execa('lxc-ls', ['-P', LXC_PATH, '-1'])).stdout.split('\n');
    expect(lxc.filter((c) => c.startsWith(containerName(name, '')))).toEqual([]);
  });

  it('a check that runs past its validate_timeout fails as timed out (table, JSON, JUnit), its processes ended', async () => {
    const [a, b, c] = [marker(), marker(), marker()];
    scripts({ barn: `sleep ${a} & sleep ${b}`, mill: 'exit 0', well: `sleep ${c}` });
    const junit = join(fixture.dir, 'report.xml');
    const json = await rig(['test', '--name', name, '--json', '--junit', junit], { timeoutMs: 120_000 });
    expect(json.exitCode, json.all).toBe(1);
    const results = JSON.parse(json.stdout) as Array<{
      fqdn: string;
      command: string;
      passed: boolean;
      timedOut: boolean;
      timeout: number;
    }>;
    const pick = (r: (typeof results)[number]) => [r.fqdn, r.command, r.passed, r.timedOut, r.timeout];
    expect(results.map(pick)).toEqual([
      ['barn.t.test', 'true', true, false, 4],
      ['barn.t.test', 'sh check.sh barn', false, true, 4],
      ['mill.t.test', 'sh check.sh mill', true, false, 600],
      ['well.t.test', 'sh check.sh well', false, true, 4],
    ]);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('failures="2"');
    expect(xml.match(/<failure message="timed out after 4 s" type="timeout">/g)).toHaveLength(2);
    // Nothing of them is left in the nodes: the background child of barn's check went with it.
    for (const [node, mark] of [
      ['barn', a],
      ['barn', b],
      ['well', c],
    ])
      expect(await sleeping(node, mark), `${node}: ${(await processes(node)).join('\n')}`).toBe(false);

    const table = await rig(['test', '--name', name], { timeoutMs: 120_000 });
    expect(table.exitCode, table.all).toBe(1);
    expect(table.stdout).toMatch(/barn\.t\.test\s+sh check\.sh barn\s+timed out \(4 s\)/);
    expect(table.stdout).toMatch(/well\.t\.test\s+sh check\.sh well\s+timed out \(4 s\)/);
    expect(table.stdout).toContain('barn.t.test: sh check.sh barn timed out after 4 s:');
    expect(table.stdout).toContain('2 passed, 2 failed (2 timed out)');
  });

  it('rig provision ends as well: its checks have the same deadline', async () => {
    const a = marker();
    scripts({ barn: `sleep ${a}`, mill: 'exit 0', well: 'exit 0' });
    const provision = await rig(['provision', 'barn', '--name', name, '--json'], { timeoutMs: 120_000 });
    expect(provision.exitCode, provision.all).toBe(1);
    const [result] = JSON.parse(provision.stdout) as Array<{ checks: Array<{ command: string; timedOut: boolean }> }>;
    expect(result.checks.map((c) => [c.command, c.timedOut])).toEqual([
      ['true', false],
      ['sh check.sh barn', true],
    ]);
    expect(await sleeping('barn', a)).toBe(false);
  });

  it('rig test --timeout is the deadline of every check, over the rig file', async () => {
    const a = marker();
    scripts({ barn: 'exit 0', mill: `sleep ${a}`, well: 'exit 0' });
    const test = await rig(['test', '--name', name, '--timeout', '2s', '--json'], { timeoutMs: 120_000 });
    expect(test.exitCode, test.all).toBe(1);
    const mill = (JSON.parse(test.stdout) as Array<{ fqdn: string; timedOut: boolean; timeout: number }>).find(
      (r) => r.fqdn === 'mill.t.test',
    );
    expect(mill).toMatchObject({ timedOut: true, timeout: 2 });
    expect(await sleeping('mill', a)).toBe(false);
    const bad = await rig(['test', '--name', name, '--timeout', 'soon']);
    expect(bad.exitCode, bad.all).toBe(2);
    expect(bad.stderr).toContain('--timeout "soon" is not a duration');
  });

  it('a check outlives no rig test killed by SIGKILL past its deadline', async () => {
    const [a, b] = [marker(), marker()];
    scripts({ barn: `sleep ${a} & sleep ${b}`, mill: 'exit 0', well: 'exit 0' });
    const test = spawnRig(['test', '--name', name]);
    expect(await eventually(() => sleeping('barn', b), 60_000), test.output()).toBe(true);
    test.child.kill('SIGKILL');
    await test.exited;
    // Its deadline (4 s) is kept in the node: both sleeps end with no rig left to end them.
    expect(await gone('barn', a), (await processes('barn')).join('\n')).toBe(true);
    expect(await gone('barn', b), (await processes('barn')).join('\n')).toBe(true);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to rig test ends the checks under way in the nodes, shows what was done and exits 130`, async () => {
      const [a, b] = [marker(), marker()];
      scripts({ barn: 'exit 0', mill: `sleep ${a} & sleep ${b}`, well: 'exit 0' });
      const test = spawnRig(['test', '--name', name]);
      expect(await eventually(() => sleeping('mill', b), 60_000), test.output()).toBe(true);
      test.child.kill(signal);
      const end = await ended(test);
      expect(end.code, test.output()).toBe(130);
      expect(test.output()).toMatch(/mill\.t\.test\s+sh check\.sh mill\s+interrupted/);
      expect(test.output()).toContain('1 interrupted');
      expect(test.output()).toContain('Interrupted; the checks under way were ended in the nodes.');
      expect(await gone('mill', a), (await processes('mill')).join('\n')).toBe(true);
      expect(await gone('mill', b)).toBe(true);
    });

    it(`${signal} to rig provision ends the steps under way in the nodes, says which nodes were provisioned and exits 130`, async () => {
      const [a, b] = [marker(), marker()];
      scripts({ barn: 'exit 0', mill: 'exit 0', well: 'exit 0' }, {}, { mill: `sleep ${a} & sleep ${b}` });
      const provision = spawnRig(['provision', 'barn', 'mill', '--name', name]);
      expect(await eventually(() => sleeping('mill', b), 60_000), provision.output()).toBe(true);
      // barn's steps and checks are quick, but on a loaded machine they may end after mill's sleeps began.
      expect(await eventually(async () => provision.output().includes('barn.t.test: provisioned and valid'), 60_000)).toBe(true);
      provision.child.kill(signal);
      const end = await ended(provision);
      expect(end.code, provision.output()).toBe(130);
      expect(provision.output()).toContain('Interrupted; provisioned: barn.t.test; ended: mill.t.test; not run: none.');
      expect(await gone('mill', a), (await processes('mill')).join('\n')).toBe(true);
      expect(await gone('mill', b)).toBe(true);
    });

    it(`${signal} to rig update ends the update under way, says which nodes have it and exits 130`, async () => {
      const [a, b] = [marker(), marker()];
      scripts({ barn: 'exit 0', mill: 'exit 0', well: 'exit 0' }, { barn: 'exit 0', mill: `sleep ${a} & sleep ${b}` });
      const update = spawnRig(['update', 'barn', 'mill', 'well', '--name', name]);
      expect(await eventually(() => sleeping('mill', b), 60_000), update.output()).toBe(true);
      update.child.kill(signal);
      const end = await ended(update);
      expect(end.code, update.output()).toBe(130);
      expect(update.output()).toMatch(/^barn\.t\.test {2}updated in/m);
      expect(update.output()).toMatch(/^mill\.t\.test {2}INTERRUPTED/m);
      expect(update.output()).toContain('updated: barn.t.test\n');
      expect(update.output()).toContain(
        'not updated: mill.t.test, well.t.test (mill.t.test interrupted: what ran in it was ended; well.t.test not run: the update was interrupted)',
      );
      expect(update.output()).toContain('Interrupted; the update commands under way were ended in mill.t.test.');
      expect(await gone('mill', a), (await processes('mill')).join('\n')).toBe(true);
      expect(await gone('mill', b)).toBe(true);
    });
  }

  it('SIGINT to rig exec --all ends the command, whole, in every node (Docker and LXC) and exits 130', async () => {
    const [a, b] = [marker(), marker()];
    const exec = spawnRig(['exec', '--all', '--name', name, '--', 'sh', '-c', `sleep ${a} & sleep ${b}`]);
    for (const node of ['barn', 'mill', 'well']) expect(await eventually(() => sleeping(node, b), 60_000), exec.output()).toBe(true);
    exec.child.kill('SIGINT');
    const end = await ended(exec);
    expect(end.code, exec.output()).toBe(130);
    expect(exec.output()).toContain('rig: well.t.test: ended by the interrupt');
    expect(exec.output()).toContain('Interrupted; the command was ended in 3 of 3 nodes.');
    for (const node of ['barn', 'mill', 'well']) {
      expect(await gone(node, a), `${node}: ${(await processes(node)).join('\n')}`).toBe(true);
      expect(await gone(node, b)).toBe(true);
    }
  });

  it('rig exec --all and --role say which nodes failed, and with what exit code', async () => {
    const all = await rig(['exec', '--all', '--name', name, '--', 'sh', '-c', 'case $(hostname) in barn) exit 3 ;; well) exit 5 ;; esac']);
    expect(all.exitCode, all.all).toBe(3);
    expect(all.stderr.split('\n').filter((l) => l.startsWith('rig: '))).toEqual([
      'rig: barn.t.test: exited 3',
      'rig: well.t.test: exited 5',
    ]);
    const role = await rig(['exec', '--role', 'db', '--name', name, '--', 'sh', '-c', 'kill -9 $$']);
    expect(role.exitCode, role.all).toBe(137);
    expect(role.stderr.split('\n').filter((l) => l.startsWith('rig: '))).toEqual([
      'rig: barn.t.test: exited 137 (SIGKILL)',
      'rig: well.t.test: exited 137 (SIGKILL)',
    ]);
    const fine = await rig(['exec', '--all', '--name', name, '--', 'true']);
    expect(fine.exitCode, fine.all).toBe(0);
    expect(fine.stderr).toBe('');
  });
});

describe('rig run interrupted ends the whole process group of its host command', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: its background children too, then the rig goes (exit 130)`, async () => {
      const name = uniqueName('tmorun');
      const fixture = fixtureDir(`name: ${name}\ndomain: t.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn:\n`);
      const [a, b] = [marker(), marker()];
      const onHost = async (mark: string) => (await execa('pgrep', ['-f', `^sleep ${mark}$`], { reject: false })).stdout.trim() !== '';
      try {
        const run = spawnRig(['run', 'rig.yaml', '--', 'sh', '-c', `sleep ${a} & sleep ${b}`], fixture.dir);
        expect(await eventually(() => onHost(b), 120_000), run.output()).toBe(true);
        expect(await onHost(a)).toBe(true);
        run.child.kill(signal);
        const end = await ended(run);
        expect(end.code, run.output()).toBe(130);
        expect(await onHost(b)).toBe(false);
        expect(await onHost(a)).toBe(false); // the background child, deaf to SIGINT, ended with the group
        expect(await leftovers(name)).toEqual([]);
      } finally {
        await execa('pkill', ['-f', `^sleep (${a}|${b})$`], { reject: false });
        await rig(['down', '--name', name]);
        fixture.cleanup();
      }
    });
  }
});
