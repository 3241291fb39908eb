import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { eventually, fixtureDir, rig, uniqueName } from './helpers.js';
import { rigInstances, useLxdHost } from './lxd-host.js';

useLxdHost();

interface Status {
  sidecar: string;
  nodes: Array<{ fqdn: string; ip: string; stage: string }>;
}

/**
 * Restarts on LXD, as restart.e2e has them on Docker and LXC: LXD puts a restarted instance's NIC back on the rig's
 * bridge itself, and the node's agent and the sidecar take up where they were.
 */
describe('a rig of LXD nodes whose node or sidecar restarts', () => {
  const name = uniqueName('lxdrestart');
  const fixture = fixtureDir(`name: ${name}
domain: village.test
backend: lxd
network: { internal: true }
configs: []
nodes:
  a.village.test:
    facts: { role: primary }
    provision:
      - shell: rig-fact set provisioned_at "$(date +%s)-$$"
  b.village.test:
`);
  const status = async (): Promise<Status> => JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
  const instance = async (role: string, node?: string) =>
    (await rigInstances(name)).find((i) => i.config['user.rig.role'] === role && (!node || i.config['user.rig.node'] === node))!.name;
  const allReady = async () => {
    const s = await status();
    return s.sidecar === 'running' && s.nodes.every((n) => n.stage === 'ready');
  };
  let before: Status;
  let provisionedAt = '';

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    before = await status();
    provisionedAt = (await rig(['facts', 'a', 'provisioned_at', '--name', name])).stdout.trim();
    expect(provisionedAt).toMatch(/^\d+-\d+$/);
  });

  afterAll(async () => {
    const down = await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(down.exitCode, down.all).toBe(0);
    expect(await rigInstances(name)).toEqual([]);
  });

  it('a restarted node is ready again at its address, with its facts, by its name; not provisioned again', async () => {
    await execa('lxc', ['restart', '--force', await instance('node', 'a.village.test')]);
    const log = async () => (await rig(['logs', 'a', '--name', name])).stdout;
    const restarted = 'restarted: provisioned before, so its steps are not run again';
    expect(await eventually(async () => (await log()).includes(restarted), 90_000, 500), await log()).toBe(true);
    expect(await eventually(allReady, 90_000, 300), JSON.stringify(await status())).toBe(true);
    expect((await status()).nodes[0].ip).toBe(before.nodes[0].ip);
    const facts = JSON.parse((await rig(['facts', 'a', '--name', name, '--json'])).stdout) as Record<string, string>;
    expect(facts).toMatchObject({ role: 'primary', ipaddress: before.nodes[0].ip, provisioned_at: provisionedAt });
    const ping = await rig(['exec', 'b', '--name', name, '--', '/.rig/bin/ping', '-c', '1', '-W', '2', 'a']);
    expect(ping.exitCode, ping.all).toBe(0);
  });

  it('a restarted sidecar keeps the facts and leases, and serves the names again', async () => {
    await execa('lxc', ['restart', '--force', await instance('sidecar')]);
    expect(await eventually(allReady, 90_000, 300), JSON.stringify(await status())).toBe(true);
    expect((await status()).nodes.map((n) => n.ip)).toEqual(before.nodes.map((n) => n.ip));
    expect((await rig(['facts', 'a', 'provisioned_at', '--name', name])).stdout.trim()).toBe(provisionedAt);
    const lookup = await rig(['exec', 'a', '--name', name, '--', 'getent', 'hosts', 'b.village.test']);
    expect(lookup.stdout).toContain(before.nodes[1].ip);
  });
});
