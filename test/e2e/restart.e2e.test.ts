import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { docker, eventually, fixtureDir, leftovers, queryA, rig, uniqueName, vethsLeft } from './helpers.js';

interface Status {
  dns: string;
  sidecar: string;
  nodes: Array<{ fqdn: string; ip: string; stage: string }>;
}

const keepers = async (name: string) =>
  (await execa('ps', ['-eo', 'args'])).stdout.split('\n').filter((line) => line.includes('keeper.js') && line.trim().endsWith(` ${name}`));

describe('a rig whose node or sidecar restarts', () => {
  const name = uniqueName('restart');
  const fixture = fixtureDir(
    `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.village.test:\n    facts: { role: primary }\n    provision:\n      - shell: rig-fact set provisioned_at "$(date +%s%N)"\n  b.village.test:\n`,
  );
  const status = async (): Promise<Status> => JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
  let before: Status;
  let factsBefore: Record<string, string>;

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    before = await status();
    factsBefore = JSON.parse((await rig(['facts', 'a', '--name', name, '--json'])).stdout);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('has a keeper for the rig once it is up, run from the bundle as the CLI is', async () => {
    expect(await eventually(async () => (await keepers(name)).length === 1, 10_000)).toBe(true);
    expect((await keepers(name))[0]).toContain('/dist/bundle/keeper.js');
  });

  it('wires a restarted node again: ready with the same address, its facts, its DNS name; not provisioned again', async () => {
    await docker(['restart', '-t', '2', `rig-${name}.a`]);
    const ready = await eventually(async () => (await status()).nodes[0].stage === 'ready', 60_000, 300);
    expect(ready, JSON.stringify(await status())).toBe(true);
    const after = await status();
    expect(after.nodes[0].ip).toBe(before.nodes[0].ip);
    expect(await queryA(after.dns, 'a.village.test')).toEqual([before.nodes[0].ip]);
    const facts = JSON.parse((await rig(['facts', 'a', '--name', name, '--json'])).stdout);
    expect(facts).toMatchObject({ role: 'primary', ipaddress: before.nodes[0].ip, provisioned_at: factsBefore.provisioned_at });
    const log = (await rig(['logs', 'a', '--name', name])).stdout;
    expect(log).toContain('restarted: provisioned before, so its steps are not run again');
    // The peer reaches it again.
    const ping = await rig(['exec', 'b', '--name', name, '--', '/.rig/bin/ping', '-c', '1', '-W', '2', 'a']);
    expect(ping.exitCode, ping.all).toBe(0);
  });

  it('keeps the facts and leases when the sidecar restarts, and wires it again', async () => {
    const sidecar = `rig-${name}.sidecar`;
    await docker(['restart', '-t', '2', sidecar]);
    const back = await eventually(
      async () => {
        const s = await status();
        return s.sidecar === 'running' && s.nodes.every((n) => n.stage === 'ready');
      },
      60_000,
      300,
    );
    expect(back, JSON.stringify(await status())).toBe(true);
    const after = await status();
    expect(after.nodes.map((n) => n.ip)).toEqual(before.nodes.map((n) => n.ip));
    expect(JSON.parse((await rig(['facts', 'a', '--name', name, '--json'])).stdout)).toMatchObject({
      role: 'primary',
      provisioned_at: factsBefore.provisioned_at,
    });
    const leases = await docker(['exec', sidecar, 'cat', '/var/lib/misc/dnsmasq.leases']);
    for (const n of before.nodes) expect(leases).toContain(` ${n.ip} ${n.fqdn.split('.')[0]} `);
    expect(await queryA(after.dns, 'b.village.test')).toEqual([before.nodes[1].ip]);
  });

  it('leaves nothing on down: no keeper, veth or sidecar state', async () => {
    const state = await docker(['inspect', '-f', '{{index .Config.Labels "io.rig.state"}}', `rig-${name}.sidecar`]);
    const down = await rig(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect(await leftovers(name)).toEqual([]);
    expect(await eventually(async () => (await keepers(name)).length === 0, 10_000)).toBe(true);
    expect(
      await eventually(
        async () =>
          (
            await vethsLeft(
              name,
              before.nodes.map((n) => n.fqdn),
            )
          ).length === 0,
        5000,
      ),
    ).toBe(true);
    const { existsSync } = await import('node:fs');
    expect(state).toMatch(/^\/dev\/shm\/rig\//);
    expect(existsSync(state)).toBe(false);
  });
});

describe('an LXC node that restarts', () => {
  const name = uniqueName('lxcrestart');
  const fixture = fixtureDir(
    `name: ${name}\ndomain: village.test\nbackend: lxc\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.village.test:\n    provision:\n      - shell: rig-fact set provisioned_at "$(date +%s%N)"\n`,
  );

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('is ready again with the same address and is not provisioned again (LXC makes its veth itself)', async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    const node = async () =>
      JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0].nodes[0] as { ip: string; stage: string };
    const before = await node();
    const factBefore = (await rig(['facts', 'a', 'provisioned_at', '--name', name])).stdout;
    const container = `rig-${name}.a`;
    await execa('lxc-stop', ['-P', '/var/lib/lxc', '-n', container]);
    expect((await node()).stage).toBe('stopped');
    await execa('lxc-start', ['-P', '/var/lib/lxc', '-n', container]);
    expect(await eventually(async () => (await rig(['logs', 'a', '--name', name])).stdout.includes('ready again'), 30_000, 300)).toBe(true);
    expect(await node()).toEqual(before);
    expect((await rig(['facts', 'a', 'provisioned_at', '--name', name])).stdout).toBe(factBefore);
  });
});
