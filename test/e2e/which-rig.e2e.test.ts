import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

describe('which rig a command means, with two rigs up', () => {
  const one = uniqueName('whicha');
  const two = uniqueName('whichb');
  const rigFile = (name: string) =>
    `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n    facts: { rig_is: ${name} }\n`;
  const first = fixtureDir(rigFile(one));
  const second = fixtureDir(rigFile(two));

  beforeAll(async () => {
    for (const f of [first, second]) {
      const up = await rig(['up', 'rig.yaml'], { cwd: f.dir });
      expect(up.exitCode, up.all).toBe(0);
    }
  });

  afterAll(async () => {
    await Promise.all([rig(['down', '--name', one]), rig(['down', '--name', two])]);
    first.cleanup();
    second.cleanup();
    expect([...(await leftovers(one)), ...(await leftovers(two))]).toEqual([]);
  });

  it('takes RIG_NAME, as rig run sets it, for facts, exec, logs and test', async () => {
    const env = { RIG_NAME: two };
    expect((await rig(['facts', 'barn', 'rig_is'], { env })).stdout.trim()).toBe(two);
    expect((await rig(['exec', 'barn', '--', '/.rig/bin/rig-fact', 'get', 'barn', 'rig_is'], { env })).stdout.trim()).toBe(two);
    expect((await rig(['logs', 'barn'], { env })).stdout).toContain('ready: barn.village.test');
    const test = await rig(['test', '--json'], { env });
    expect(test.exitCode, test.all).toBe(0);
  });

  it('takes the rig file of the current directory when several rigs have the node', async () => {
    expect((await rig(['facts', 'barn', 'rig_is'], { cwd: first.dir })).stdout.trim()).toBe(one);
  });

  it('lists the rigs when nothing says which', async () => {
    const out = await rig(['facts', 'barn', 'rig_is'], { cwd: '/' });
    expect(out.exitCode).toBe(2);
    expect(out.stderr).toMatch(new RegExp(`barn names nodes in \\d+ rigs: .*${one}.*`));
    expect(out.stderr).toContain(two);
    expect(out.stderr).toContain('--name RIG (or set RIG_NAME)');
  });

  it('rig ls prints a line per rig', async () => {
    const ls = JSON.parse((await rig(['ls', '--json'])).stdout) as Array<{
      name: string;
      counts: { nodes: number; ready: number; failed: number };
      sidecar: string;
    }>;
    for (const name of [one, two])
      expect(ls.find((r) => r.name === name)).toMatchObject({ counts: { nodes: 1, ready: 1, failed: 0 }, sidecar: 'running' });
    const table = (await rig(['ls'])).stdout;
    expect(table).toMatch(/^NAME\s+NODES\s+READY\s+FAILED\s+SUBNET\s+RIG FILE\s+AGE/);
    expect(table).toMatch(new RegExp(`^${one}\\s+1\\s+1\\s+0\\s+10\\.\\d+\\.\\d+\\.0/24\\s+\\S*rig\\.yaml\\s+\\d+[smhd]$`, 'm'));
  });
});
