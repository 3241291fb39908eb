import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStepTree } from '../../src/engine/steps.js';
import { describeDiff, diffRig, reconcileSteps, settingsChanges } from '../../src/engine/reconcile.js';
import { upSteps } from '../../src/engine/up.js';
import { planRig, rigSettings, rigSettingsHash, type Plan } from '../../src/plan/plan.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { FakeRuntime } from './fake-runtime.js';

const planOf = (nodes: string) =>
  planRig(parseRigFile(`name: r\ndomain: v.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n${nodes}`, '/work/rigs/r.yaml'));
const options = { timeoutMs: 5000, owner: `${hostname()}:${process.pid}` };

/** A rig of the fake brought up from `first`, its sidecar's state in a temporary directory. */
async function upRig(first: Plan) {
  const fake = new FakeRuntime();
  fake.stateDir = mkdtempSync(join(tmpdir(), 'rig-reconcile-'));
  const up = upSteps(fake.engine(), first, { ...options, wait: true });
  await runStepTree(up.steps, () => {});
  up.done();
  fake.nets[0].labels['io.rig.spec'] = rigSettingsHash(first.spec);
  return fake;
}

async function reconcile(fake: FakeRuntime, plan: Plan) {
  const [network] = fake.nets;
  const sidecar = fake.boxes.find((c) => c.role === 'sidecar')!;
  const nodes = fake.nodes.map((n) => ({ ...n }));
  const stages = new Map([...fake.stages].map(([key, stage]) => [key.split('/')[1], stage]));
  const diff = diffRig(plan, { settings: network.labels['io.rig.spec'], nodes, stages });
  const run = reconcileSteps(fake.engine(), plan, diff, { network, sidecar, nodes }, options);
  try {
    await runStepTree(run.steps, () => {});
  } finally {
    await run.settle();
  }
  return diff;
}

const reserved = (fake: FakeRuntime) =>
  Object.fromEntries(
    readFileSync(join(fake.stateDir!, 'misc', 'rig-nodes.conf'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('dhcp-host='))
      .map((l) => l.split(',').slice(1)),
  );

describe('a reconcile against the fake runtime', () => {
  it('removes, remakes and adds exactly the nodes that differ; the others keep their instance and address', async () => {
    const fake = await upRig(planOf('  a.v.test:\n  b.v.test:\n  c.v.test:\n'));
    try {
      const before = reserved(fake);
      const a = fake.nodes.find((n) => n.node === 'a.v.test');
      const diff = await reconcile(fake, planOf('  a.v.test:\n  b.v.test: { facts: { colour: blue } }\n  d.v.test:\n'));
      expect([diff.added, diff.removed, diff.changed, diff.unchanged]).toEqual([['d.v.test'], ['c.v.test'], ['b.v.test'], ['a.v.test']]);
      expect(fake.nodes.map((n) => n.node).sort()).toEqual(['a.v.test', 'b.v.test', 'd.v.test']);
      expect(fake.nodes.find((n) => n.node === 'a.v.test')).toBe(a); // untouched
      expect(fake.stages.get('r/d.v.test')).toBe('ready');
      const after = reserved(fake);
      expect([after.a, after.b]).toEqual([before.a, before.b]);
      expect(Object.values(before)).not.toContain(after.d); // not c's: its lease may outlive it
      expect(after.c).toBeUndefined();
      expect(fake.unwired.flatMap((u) => u.hostInterfaces)).toHaveLength(2); // c and the old b
    } finally {
      rmSync(fake.stateDir!, { recursive: true, force: true });
    }
  });

  it('leaves the rig as far as it got when a new node fails, and lets the next reconcile remake it', async () => {
    const fake = await upRig(planOf('  a.v.test:\n'));
    try {
      fake.scripts.set('b.v.test', 'fails');
      await expect(reconcile(fake, planOf('  a.v.test:\n  b.v.test:\n'))).rejects.toThrow('b.v.test failed: step 1/1 (shell) exited 3');
      expect(fake.nodes.map((n) => n.node)).toEqual(['a.v.test', 'b.v.test']);
      fake.scripts.delete('b.v.test');
      const again = await reconcile(fake, planOf('  a.v.test:\n  b.v.test:\n'));
      expect([again.broken, again.unchanged]).toEqual([['b.v.test'], ['a.v.test']]);
      expect(fake.stages.get('r/b.v.test')).toBe('ready');
    } finally {
      rmSync(fake.stateDir!, { recursive: true, force: true });
    }
  });

  it('refuses while another reconcile of the rig holds its lock', async () => {
    const fake = await upRig(planOf('  a.v.test:\n'));
    try {
      writeFileSync(join(fake.stateDir!, 'reconcile.lock'), String(process.ppid)); // a live process
      await expect(reconcile(fake, planOf('  a.v.test:\n  b.v.test:\n'))).rejects.toThrow(
        `Rig r is being changed by another rig up (pid ${process.ppid}).`,
      );
      expect(fake.nodes.map((n) => n.node)).toEqual(['a.v.test']);
    } finally {
      rmSync(fake.stateDir!, { recursive: true, force: true });
    }
  });
});

describe('a change of the rig itself, in words (issue 21.10)', () => {
  const rigOf = (settings: string) => planRig(parseRigFile(`name: r\n${settings}nodes:\n  a:\n`, '/work/rigs/r.yaml'));
  const before = rigOf('domain: v.test\nnetwork: { internal: true }\nconfigs: [{ dir: hiera }]\n');
  const running = (kept?: string) => ({
    settings: rigSettingsHash(before.spec),
    rigSettings: kept,
    nodes: [],
  });
  const kept = JSON.stringify(rigSettings(before.spec));

  it('says which settings changed, from what to what, as the rig file names them', () => {
    const after = rigOf(
      'domain: v.test\nnetwork: { internal: false, subnet: 10.9.0.0/24, forward: [ntp.prod.example] }\n' +
        'configs: [{ dir: hiera, file: "{node}.yml" }, { dir: ansible/host_vars }]\nfacts_from: { dir: facts }\n',
    );
    const diff = diffRig(after, running(kept));
    expect(diff.rigChanges).toEqual([
      'network.subnet (none) -> 10.9.0.0/24',
      'network.internal true -> false',
      'network.forward + ntp.prod.example',
      'configs + hiera/{node}.yml, + ansible/host_vars/{node}.yaml, - hiera/{node}.yaml',
      'facts_from (none) -> facts/{node}.json',
    ]);
    expect(describeDiff(diff)[0]).toBe(`~ the rig: ${diff.rigChanges!.join('; ')}`);
  });

  it('says the domain changed, from what to what', () => {
    const diff = diffRig(rigOf('domain: w.test\nnetwork: { internal: true }\nconfigs: [{ dir: hiera }]\n'), running(kept));
    expect(diff.rigChanges).toEqual(['domain v.test -> w.test']);
  });

  it('falls back to the words of old for a rig made before rig kept its settings', () => {
    const diff = diffRig(rigOf('domain: w.test\nnetwork: { internal: true }\nconfigs: [{ dir: hiera }]\n'), running(undefined));
    expect(diff.rigChanged).toBe(true);
    expect(diff.rigChanges).toBeUndefined();
    expect(describeDiff(diff)[0]).toBe('~ the rig: domain, network, config trees or production facts changed');
    expect(settingsChanges('not json', before.spec)).toEqual([]);
  });

  it('says nothing of the rig when only nodes changed', () => {
    const diff = diffRig(before, running(kept));
    expect(diff.rigChanged).toBe(false);
    expect(diff.rigChanges).toBeUndefined();
  });
});
