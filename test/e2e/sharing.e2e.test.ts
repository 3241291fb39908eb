import { afterAll, describe, expect, it } from 'vitest';
import { fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

describe('rigs never meet in container names', () => {
  // Rig relq with a node x-sidecar, and rig relq-x: with "rig-<rig>-<node>" both made rig-relq-x-sidecar.
  const relq = uniqueName('relq');
  const relqX = `${relq}-x`;
  const first = fixtureDir(`name: ${relq}\ndomain: relq.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  x-sidecar.relq.test:\n`);
  const second = fixtureDir(`name: ${relqX}\ndomain: relq.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.relq.test:\n`);

  afterAll(async () => {
    await Promise.all([rig(['down', '--name', relq]), rig(['down', '--name', relqX])]);
    first.cleanup();
    second.cleanup();
    expect([...(await leftovers(relq)), ...(await leftovers(relqX))]).toEqual([]);
  });

  it('brings up both, each whole', async () => {
    const a = await rig(['up', 'rig.yaml'], { cwd: first.dir });
    expect(a.exitCode, a.all).toBe(0);
    const b = await rig(['up', 'rig.yaml'], { cwd: second.dir });
    expect(b.exitCode, b.all).toBe(0);
    for (const [name, node] of [[relq, 'x-sidecar.relq.test'], [relqX, 'a.relq.test']]) {
      const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
      expect(status.sidecar).toBe('running');
      expect(status.nodes.map((n: { node: string; state: string }) => [n.node, n.state])).toEqual([[node, 'ready']]);
    }
  });
});
