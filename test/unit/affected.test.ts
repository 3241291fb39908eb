import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRigFile } from '../../src/rigfile/load.js';
import { planRig } from '../../src/plan/plan.js';
import { affectedBy } from '../../src/plan/affected.js';

describe('affectedBy: what a changed file means for watch mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-affected-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['repo/hieradata/nodes', 'repo/manifests', 'repo/modules', 'scripts', 'ansible/host_vars/kelda.prod.example'])
    mkdirSync(join(dir, d), { recursive: true });
  for (const f of ['repo/hiera.yaml', 'repo/manifests/site.pp', 'scripts/app.sh', 'scripts/upgrade.yml', 'README.md'])
    writeFileSync(join(dir, f), '');
  const file = join(dir, 'rig.yaml');
  const plan = planRig(
    parseRigFile(
      `name: village
configs:
  - dir: repo/hieradata/nodes
  - dir: ansible/host_vars
    file: "{node}/main.yml"
provision:
  - puppet: { manifest: repo/manifests/site.pp, modulepath: repo/modules, hiera_config: repo/hiera.yaml }
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test: kelda.prod.example
  silo.village.test: kelda.prod.example
  well.village.test:
    provision:
      - script: scripts/app.sh
    update:
      - ansible: scripts/upgrade.yml
`,
      file,
    ),
  );
  const at = (path: string) => affectedBy(plan, join(dir, path));

  it("maps a live node's config file to the nodes mirroring it, and only those", () => {
    expect(at('repo/hieradata/nodes/straleb.prod.example.yaml')).toEqual({
      kind: 'nodes',
      nodes: ['barn.village.test'],
      why: 'config of straleb.prod.example',
    });
    expect(at('repo/hieradata/nodes/kelda.prod.example.yaml')).toMatchObject({ nodes: ['mill.village.test', 'silo.village.test'] });
    // a per-node directory: any file in it
    expect(at('ansible/host_vars/kelda.prod.example/main.yml')).toMatchObject({ nodes: ['mill.village.test', 'silo.village.test'] });
    // the link rig made, touched itself
    expect(at('repo/hieradata/nodes/barn.village.test.yaml')).toMatchObject({ nodes: ['barn.village.test'] });
  });

  it('maps the config of a live node nobody mirrors to no node', () => {
    expect(at('repo/hieradata/nodes/hobb.prod.example.yaml')).toEqual({
      kind: 'nodes',
      nodes: [],
      why: 'config of hobb.prod.example, which no node mirrors',
    });
  });

  it('maps a file a step uses to the nodes with that step', () => {
    expect(at('repo/modules/profile/manifests/redis.pp')).toEqual({
      kind: 'nodes',
      nodes: ['barn.village.test', 'mill.village.test', 'silo.village.test'],
      why: 'used by their steps',
    });
    expect(at('repo/hieradata/common.yaml')).toMatchObject({ nodes: ['barn.village.test', 'mill.village.test', 'silo.village.test'] });
    expect(at('scripts/app.sh')).toEqual({ kind: 'nodes', nodes: ['well.village.test'], why: 'used by their steps' });
  });

  it('maps a playbook only update: runs to no node: rig update reads it when it runs', () => {
    expect(at('scripts/upgrade.yml')).toEqual({ kind: 'nodes', nodes: [], why: 'a playbook of update: (rig update runs it)' });
  });

  it('maps the rig file to itself, and anything else to all nodes', () => {
    expect(at('rig.yaml')).toEqual({ kind: 'rigfile' });
    expect(at('README.md')).toMatchObject({
      nodes: ['barn.village.test', 'mill.village.test', 'silo.village.test', 'well.village.test'],
      why: 'a file of the rig: all nodes',
    });
  });
});

describe('diffRig: what up of an edited rig file would change', () => {
  it('finds added, removed and changed nodes by their settings, and a changed rig', async () => {
    const { diffRig, describeDiff } = await import('../../src/engine/reconcile.js');
    const { nodeSettingsHash, rigSettingsHash } = await import('../../src/plan/plan.js');
    const plan = (text: string) => planRig(parseRigFile(text, '/work/rigs/x.yaml'));
    const before = plan('name: x\ndomain: v.test\nnodes:\n  a.v.test:\n  b.v.test:\n  c.v.test:\n');
    const running = {
      settings: rigSettingsHash(before.spec),
      nodes: before.nodes.map((n) => ({
        rig: 'x',
        node: n.spec.name,
        backend: 'docker' as const,
        name: n.container,
        running: true,
        settings: nodeSettingsHash(n.spec),
      })),
    };
    expect(describeDiff(diffRig(before, running))).toEqual(['= 3 nodes unchanged']);
    // Line numbers move when a node is added above: not a change.
    const after = plan('name: x\ndomain: v.test\nnodes:\n  z.v.test:\n  a.v.test:\n  b.v.test: { facts: { role: db } }\n');
    expect(diffRig(after, running)).toEqual({
      rigChanged: false,
      added: ['z.v.test'],
      removed: ['c.v.test'],
      changed: ['b.v.test'],
      broken: [],
      unchanged: ['a.v.test'],
    });
    const otherDomain = plan('name: x\ndomain: w.test\nnodes:\n  a.w.test:\n');
    expect(diffRig(otherDomain, running).rigChanged).toBe(true);
    // Same settings, but stopped or not ready: made again.
    const stopped = { ...running, nodes: running.nodes.map((n) => (n.node === 'a.v.test' ? { ...n, running: false } : n)) };
    const stages = new Map([
      ['a.v.test', 'ready'],
      ['b.v.test', 'failed: step 1/1 (shell) exited 3'],
      ['c.v.test', 'ready'],
    ]);
    const broken = diffRig(before, { ...stopped, stages });
    expect([broken.broken, broken.unchanged]).toEqual([['a.v.test', 'b.v.test'], ['c.v.test']]);
    expect(describeDiff(broken)).toContain('~ b.v.test (not running or not ready: made again)');
  });
});

describe('node addresses across a reconcile', () => {
  it('keeps the address of every node that stays, and gives a new one the first never reserved', async () => {
    const { assignAddresses, nodesConf } = await import('../../src/plan/sidecar.js');
    const { rigAddresses } = await import('../../src/plan/plan.js');
    const a = rigAddresses('10.9.0.0/24');
    const plan = (text: string) => planRig(parseRigFile(text, '/work/rigs/x.yaml'));
    const first = plan('name: x\ndomain: v.test\nnodes:\n  a.v.test:\n  b.v.test: live-b.prod.example\n  c.v.test:\n');
    const at = assignAddresses(first, a);
    expect([...at.values()]).toEqual([
      a.dhcpFirst,
      '10.9.0.' + (Number(a.dhcpFirst.split('.')[3]) + 1),
      '10.9.0.' + (Number(a.dhcpFirst.split('.')[3]) + 2),
    ]);
    const reserved = new Map(first.nodes.map((n) => [n.mac, at.get(n.spec.name)!]));
    // b goes, d comes first in the file: a and c keep theirs, d takes none that b had.
    const second = plan('name: x\ndomain: v.test\nnodes:\n  d.v.test: live-b.prod.example\n  a.v.test:\n  c.v.test:\n');
    const then = assignAddresses(second, a, reserved);
    expect(then.get('a.v.test')).toBe(at.get('a.v.test'));
    expect(then.get('c.v.test')).toBe(at.get('c.v.test'));
    expect([...at.values()]).not.toContain(then.get('d.v.test'));
    const conf = nodesConf(second, then);
    expect(conf).toContain(`dhcp-host=${second.nodes[0].mac},id:*,d,${then.get('d.v.test')}`);
    expect(conf).toContain(`address=/live-b.prod.example/${then.get('d.v.test')}`);
    expect(conf).toContain('local=/prod.example/');
  });
});
