import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, eventually, rig, useRig } from './helpers.js';

interface Status {
  keeper: boolean;
  nodes: Array<{ node: string; address: string; state: string }>;
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
    expect(after.rig.nodes.map((n) => [n.node, n.state])).toEqual([
      ['a.k.test', 'unwired: no link to the rig bridge'],
      ['b.k.test', 'ready'],
    ]);
    expect(after.exitCode).toBe(1);
    expect(after.stderr).toContain(`the keeper of rig ${r.name} is not running`);
    expect(after.stderr).toContain('a.k.test has no network: restarted while no keeper ran');
  });
});
