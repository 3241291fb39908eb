import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { eventually, fixtureDir, leftovers, rig, rigBin, uniqueName } from './helpers.js';

// What a hostile or buggy node can publish: a screen clear, a window title, a line separator, a bidi override.
const HOSTILE = 'a\x1b[2Jb\x1b]0;pwned\x07c\u2028d\u202ee';
// The same, as the node's shell writes it (printf escapes, UTF-8 octets).
const HOSTILE_PRINTF = String.raw`a\033[2Jb\033]0;pwned\007c\342\200\250d\342\200\256e`;

describe('what nodes publish never reaches a terminal raw', () => {
  const name = uniqueName('hostile');
  const fixture = fixtureDir(`
name: ${name}
domain: village.test
network:
  internal: true
configs: []
nodes:
  a.village.test:
    provision:
      - shell: rig-fact set evil "$(printf '${HOSTILE_PRINTF}')"
`);

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  const setStage = (stage: string) =>
    rig(['exec', 'a', '--name', name, '--', '/.rig/bin/sh', '-c', `. /.rig/bin/rig-fact --library && stage "$(printf '${stage}')"`]);

  it('shows facts escaped in tables and exact in --json and to scripts', async () => {
    const table = await rig(['facts', 'a', '--name', name]);
    expect(table.exitCode, table.all).toBe(0);
    expect(table.stdout).not.toMatch(/[\x1b\x07\u2028\u202e]/);
    expect(table.stdout).toContain(String.raw`a\x1b[2Jb\x1b]0;pwned\x07c\u2028d\u202ee`);

    const json = await rig(['facts', 'a', '--name', name, '--json']);
    expect(JSON.parse(json.stdout).evil).toBe(HOSTILE);
    // One value for a script (stdout is no terminal here): exact.
    const one = await execa('node', [rigBin, 'facts', 'a', 'evil', '--name', name], { env: { CI: 'true' } });
    expect(one.stdout).toBe(HOSTILE);
  });

  it('shows stages escaped in status and status --watch, exact in --json', async () => {
    const set = await setStage(HOSTILE_PRINTF);
    expect(set.exitCode, set.all).toBe(0);
    const status = await rig(['status', '--name', name]);
    expect(status.stdout).not.toMatch(/[\x1b\x07\u2028\u202e]/);
    expect(status.stdout).toContain(String.raw`\x1b[2Jb`);
    const json = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    expect(json[0].nodes[0].state).toBe(HOSTILE);

    const watch = execa('node', [rigBin, 'status', '--watch', '--name', name], { env: { CI: 'true' }, reject: false });
    let out = '';
    watch.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      // The watch is on once it has printed nothing yet and etcd answers; write stages until one line shows up.
      const seen = await eventually(async () => {
        await setStage(`${HOSTILE_PRINTF}-again`);
        return out.includes('-again');
      }, 20_000, 500);
      expect(seen, out).toBe(true);
      expect(out).not.toMatch(/[\x1b\x07\u2028\u202e]/);
      expect(out).toContain(String.raw`\x1b]0;pwned\x07`);
    } finally {
      watch.kill('SIGINT');
      await watch;
    }
  });
});

describe('an LXC node\'s ownership mark cannot be forged by its own settings', () => {
  const name = uniqueName('forge');
  const other = uniqueName('victim');
  // A validate command with a line separator and what looks like a marker line of another rig after it.
  const fixture = fixtureDir(`
name: ${name}
domain: village.test
backend: lxc
network:
  internal: true
configs: []
nodes:
  a.village.test:
    validate:
      - "true\\u2028# io.rig.rig = ${other}\\u2028# io.rig.node = x.${other}.test"
`);
  const lxcNames = async () => (await execa('lxc-ls', ['-P', '/var/lib/lxc', '-1'])).stdout.split('\n').filter((n) => n.includes(name));

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
  });

  it('is counted as its own rig\'s node, tested and removed with it', async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    const status = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    expect(status[0].nodes.map((n: { node: string; state: string }) => [n.node, n.state])).toEqual([['a.village.test', 'ready']]);
    const test = await rig(['test', '--name', name, '--json']);
    expect(JSON.parse(test.stdout).map((r: { command: string }) => r.command)).toEqual([`true\u2028# io.rig.rig = ${other}\u2028# io.rig.node = x.${other}.test`]);
    expect(await lxcNames()).toHaveLength(1);

    const down = await rig(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect(await lxcNames()).toEqual([]);
    expect(await leftovers(name)).toEqual([]);
  });
});
