import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, eventually, rig, useRig } from './helpers.js';

interface Status {
  keeper: boolean;
  nodes: Array<{ fqdn: string; ip: string; stage: string }>;
}

describe('a rig whose keeper died', () => {
  const r = useRig(
    'keeper',
    (name) => `name: ${name}
domain: k.test
network: { internal: true }
configs: []
nodes:
  a.k.test:
  b.k.test:
`,
  );

  const status = async () => {
    const out = await rig(['status', '--name', r.name, '--json']);
    return { exitCode: out.exitCode, rig: (JSON.parse(out.stdout) as Status[])[0], stderr: out.stderr };
  };
  const keeperPid = async () => {
    const sidecar = (await docker(['ps', '-q', '--filter', `label=io.rig.rig=${r.name}`, '--filter', 'label=io.rig.role=sidecar'])).trim();
    const state = (await docker(['inspect', '-f', '{{index .Config.Labels "io.rig.state"}}', sidecar])).trim();
    return Number(readFileSync(join(state, 'keeper.pid'), 'utf8'));
  };

  it('is not silent: status says the keeper is gone and which node has no network, and exits 1', async () => {
    const before = await status();
    expect(before.exitCode, before.stderr).toBe(0);
    expect(before.rig.keeper).toBe(true);
    process.kill(await keeperPid(), 'SIGKILL');
    expect(await eventually(async () => !(await status()).rig.keeper, 10_000)).toBe(true);
    await docker(['restart', '-t', '1', `rig-${r.name}.a`]);
    const after = await status();
    expect(after.rig.nodes.map((n) => [n.fqdn, n.stage])).toEqual([
      ['a.k.test', 'unwired: no link to the rig bridge'],
      ['b.k.test', 'ready'],
    ]);
    expect(after.exitCode).toBe(1);
    expect(after.stderr).toContain(`the keeper of rig ${r.name} is not running`);
    expect(after.stderr).toContain('a.k.test has no network: restarted while no keeper ran');
  });

  it('rig up brings the keeper back and wires the node again, in place, at its address', async () => {
    const id = (await docker(['inspect', '-f', '{{.Id}}', `rig-${r.name}.a`])).trim();
    const up = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(up.exitCode, up.all).toBe(0);
    expect(up.stderr).toMatch(/its keeper started again; a\.k\.test wired again/);
    const after = await status();
    expect(after.exitCode, after.stderr).toBe(0);
    expect(after.rig.keeper).toBe(true);
    expect(after.rig.nodes.map((n) => [n.fqdn, n.stage])).toEqual([
      ['a.k.test', 'ready'],
      ['b.k.test', 'ready'],
    ]);
    expect((await docker(['inspect', '-f', '{{.Id}}', `rig-${r.name}.a`])).trim()).toBe(id); // the same container
    const ping = await rig(['exec', 'a', '--name', r.name, '--', '/.rig/bin/ping', '-c', '1', '-W', '2', 'b']);
    expect(ping.exitCode, ping.all).toBe(0);
  });

  it('rig up brings back a rig that a Docker daemon restart stopped: sidecar and keeper started again, nodes made again at their addresses', async () => {
    const before = await status();
    // What a restart of dockerd leaves: every container of the rig stopped, and the keeper gone with the event stream.
    process.kill(await keeperPid(), 'SIGKILL');
    await docker(['stop', '-t', '1', `rig-${r.name}.a`, `rig-${r.name}.b`, `rig-${r.name}.sidecar`]);
    const up = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(up.exitCode, up.all).toBe(0);
    expect(up.stderr).toContain('its sidecar started again');
    const after = await status();
    expect(after.exitCode, after.stderr).toBe(0);
    expect(after.rig.keeper).toBe(true);
    expect(after.rig.nodes.map((n) => [n.fqdn, n.stage, n.ip])).toEqual(before.rig.nodes.map((n) => [n.fqdn, 'ready', n.ip]));
  });
});
