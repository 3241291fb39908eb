import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { ended, fixtureDir, killSpawned, leftovers, printed, rig, spawnRig, uniqueName, vethsLeft } from './helpers.js';
import { rigInstances, useLxdHost } from './lxd-host.js';

useLxdHost();
afterEach(killSpawned);

/** The reaper `up` armed for a rig: a shell whose last arguments are rig's reaper script and the rig's name. */
async function reaperPids(rig: string): Promise<number[]> {
  const ps = (await execa('ps', ['-eo', 'pid=,args='])).stdout.split('\n');
  return ps
    .filter((line) => line.includes('reaper.js') && line.trim().endsWith(` ${rig}`))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/**
 * An abandoned rig: its `up` and the reaper it armed both killed (SIGKILL) while a node provisions, as a CI runner
 * that dies takes both. Nothing removes it but `rig gc`, which must remove it whole, on Docker and on LXD.
 */
describe('rig gc removes a rig whose up and reaper both died', () => {
  for (const [where, backend] of [
    ['a rig of Docker nodes', ''],
    ['a rig of LXD nodes only (its sidecar an LXD instance too)', 'backend: lxd\n'],
  ] as const) {
    it(where, async () => {
      const name = uniqueName('gcdead');
      const nodes = ['quick.lab.test', 'slow.lab.test'];
      const fixture = fixtureDir(`name: ${name}
domain: lab.test
${backend}network: { internal: true }
nodes:
  quick.lab.test: {}
  slow.lab.test:
    provision:
      - shell: sleep 120
`);
      const left = async () => [...(await leftovers(name)), ...(await rigInstances(name)).map((i) => `LXD instance ${i.name}`)];
      try {
        const up = spawnRig(['up', 'rig.yaml'], fixture.dir);
        expect(await printed(up, /provisioning 1\/1/), up.output()).toBe(true);
        const reapers = await reaperPids(name);
        expect(reapers, 'the reaper up armed').not.toEqual([]);
        for (const pid of reapers) process.kill(pid, 'SIGKILL');
        up.child.kill('SIGKILL');
        await ended(up);
        expect(await left()).not.toEqual([]);

        const gc = await rig(['gc', '--json']);
        expect(gc.exitCode, gc.all).toBe(0);
        const result = JSON.parse(gc.stdout) as { removed: string[]; left: Array<{ rig: string }> };
        expect(result.removed).toContain(name);
        expect(await left()).toEqual([]);
        expect(await vethsLeft(name, nodes)).toEqual([]);
      } finally {
        await rig(['down', '--name', name]);
        fixture.cleanup();
      }
    });
  }
});
