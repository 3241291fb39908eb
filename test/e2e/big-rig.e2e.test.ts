import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { eventually, fixtureDir, leftovers, rig, uniqueName, vethsLeft } from './helpers.js';

// Issue 21.17: a 200-node rig (under the 239 leases of a /24) comes up and goes down on a 2-core machine, beside
// other tests: rig paces its engine calls and scales its waits with the rig. As light as a rig gets: rig's own
// image, no config trees, no provisioning. The slowest e2e test: about a minute up and 15 s down here (bench/README.md).
const NODES = 200;
const SLOW_MS = 900_000;

interface StatusNode {
  fqdn: string;
  ip: string;
  stage: string;
}

const rigFile = (name: string, nodes: string[]) =>
  [`name: ${name}`, 'domain: big.test', 'network:', '  internal: true', 'configs: []', 'nodes:', ...nodes.map((n) => `  ${n}:`), ''].join(
    '\n',
  );

describe(`a ${NODES}-node rig on the real Docker engine`, () => {
  const name = uniqueName('big');
  const nodes = Array.from({ length: NODES }, (_, i) => `n${i + 1}.big.test`);
  const fixture = fixtureDir(rigFile(name, nodes));
  const sidecarStates = () => (existsSync('/dev/shm/rig') ? readdirSync('/dev/shm/rig').filter((d) => d.startsWith(`${name}.`)) : []);

  afterAll(async () => {
    if ((await leftovers(name)).length) await rig(['down', '--name', name], { timeoutMs: SLOW_MS });
    fixture.cleanup();
  }, SLOW_MS);

  it(
    'comes up with every node ready, rig status shows them all ready, and down leaves nothing',
    async () => {
      const up = await rig(['up', 'rig.yaml', '--json'], { cwd: fixture.dir, timeoutMs: SLOW_MS });
      expect(up.exitCode, up.stderr.split('\n').slice(-5).join('\n')).toBe(0);
      expect(up.stderr.split('\n').filter((line) => line && !line.startsWith('{'))).toEqual([]); // JSON lines only

      const status = await rig(['status', '--name', name, '--json']);
      expect(status.exitCode, status.all).toBe(0);
      const [{ nodes: shown }] = JSON.parse(status.stdout) as Array<{ nodes: StatusNode[] }>;
      expect(shown.map((n) => n.fqdn).sort()).toEqual([...nodes].sort());
      expect(shown.filter((n) => n.stage !== 'ready')).toEqual([]);
      expect(new Set(shown.map((n) => n.ip)).size).toBe(NODES); // each its own lease

      const down = await rig(['down', '--name', name], { timeoutMs: SLOW_MS });
      expect(down.exitCode, down.all).toBe(0);
      expect(down.stdout).toContain(`removed ${NODES + 1} containers`);
      expect(await leftovers(name)).toEqual([]);
      expect(sidecarStates()).toEqual([]);
      // The kernel tears a removed node's namespace (and its veth) down in the background.
      expect(await eventually(async () => !(await vethsLeft(name, nodes)).length, 30_000)).toBe(true);
    },
    SLOW_MS,
  );
});
