import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { runStepTree } from '../../src/cli/progress.js';
import { destroyRig } from '../../src/engine/down.js';
import { upSteps } from '../../src/engine/up.js';
import { ExitCode, NodeNotReady, RigError } from '../../src/errors.js';
import { planRig } from '../../src/plan/plan.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { FakeRuntime } from './fake-runtime.js';

const plan = planRig(
  parseRigFile(
    'name: t\ndomain: v.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.v.test:\n  b.v.test:\n',
    '/work/rigs/t.yaml',
  ),
);
const options = { timeoutMs: 5000, wait: true, owner: `${hostname()}:${process.pid}` };
const made = (fake: FakeRuntime) => [fake.nets.length, fake.boxes.map((c) => c.name), fake.nodes.map((n) => n.node)];

describe('rig up against the fake runtime', () => {
  it('makes the network, the sidecar and every node, and ends when each node says it is ready', async () => {
    const fake = new FakeRuntime();
    const run = upSteps(fake.engine(), plan, options);
    await runStepTree(run.steps, () => {});
    run.done();
    expect(made(fake)).toEqual([1, ['rig-t.sidecar'], ['a.v.test', 'b.v.test']]);
    expect([fake.stages.get('t/a.v.test'), fake.stages.get('t/b.v.test')]).toEqual(['ready', 'ready']);
    expect(fake.nets[0].labels['io.rig.owner']).toBe(options.owner);
    await destroyRig(fake.engine(), 't');
    expect(made(fake)).toEqual([0, [], []]);
    expect(fake.guards.size).toBe(0);
  });

  it("guards every node's port with its planned MAC and address before any node is launched", async () => {
    const fake = new FakeRuntime();
    const guarded: string[][] = [];
    fake.onLaunch = () => guarded.push([...fake.guards.values()].flat().map((p) => `${p.hostInterface} ${p.mac} ${p.address}`));
    const run = upSteps(fake.engine(), plan, options);
    await runStepTree(run.steps, () => {});
    run.done();
    const expected = plan.nodes.map((n, i) => `${n.hostInterface} ${n.mac} 10.213.0.${16 + i}`);
    expect(guarded).toEqual([expected, expected]);
    expect([...fake.guards.keys()]).toEqual([`t/${fake.nets[0].id}`]);
  });

  it('fails at the node whose step fails, with its words, and its cleanup removes the whole rig', async () => {
    const fake = new FakeRuntime();
    fake.scripts.set('b.v.test', 'fails');
    const run = upSteps(fake.engine(), plan, options);
    const failed = await runStepTree(run.steps, () => {}).catch((err: Error) => err);
    expect(failed).toBeInstanceOf(NodeNotReady);
    expect((failed as NodeNotReady).message).toBe('b.v.test failed: step 1/1 (shell) exited 3');
    expect((failed as NodeNotReady).detail).toBe(
      'its log ends:\nrig-agent: step 1/1: shell\ndisk full\nrig-agent: failed: step 1/1 (shell) exited 3',
    );
    expect(await run.cleanup(false)).toBe('rig');
    expect(made(fake)).toEqual([0, [], []]);
  });

  it('keeps the failed rig with --keep-on-failure', async () => {
    const fake = new FakeRuntime();
    fake.scripts.set('a.v.test', 'fails');
    const run = upSteps(fake.engine(), plan, options);
    await expect(runStepTree(run.steps, () => {})).rejects.toThrow('a.v.test failed');
    expect(await run.cleanup(true)).toBe('kept');
    expect(made(fake)).toEqual([1, ['rig-t.sidecar'], ['a.v.test', 'b.v.test']]);
  });

  it('takes a node that dies before it is ready as stopped', async () => {
    const fake = new FakeRuntime();
    fake.scripts.set('a.v.test', 'dies');
    const run = upSteps(fake.engine(), plan, options);
    await expect(runStepTree(run.steps, () => {})).rejects.toThrow('a.v.test stopped before it was ready');
    expect(await run.cleanup(false)).toBe('rig');
  });

  it('stops at an interrupt while a node is being made, waits for it to exist, and removes exactly what exists', async () => {
    const fake = new FakeRuntime();
    fake.scripts.set('a.v.test', 'silent');
    fake.scripts.set('b.v.test', 'silent');
    const run = upSteps(fake.engine(), plan, options);
    const interrupted = new RigError('Interrupted', undefined, ExitCode.interrupted);
    fake.onLaunch = (node) => node === 'b.v.test' && run.abort(interrupted);
    await expect(runStepTree(run.steps, () => {})).rejects.toBe(interrupted);
    expect(run.abortReason()).toBe(interrupted);
    expect(await run.cleanup(false)).toBe('rig');
    expect(made(fake)).toEqual([0, [], []]);
  });

  it('loses a race for the rig name to another up: removes only its own network, and says the rig is up', async () => {
    const fake = new FakeRuntime();
    const theirs = fake.addNetwork('t');
    fake.onNetwork = () =>
      fake.boxes.push({ id: 'theirs', name: 'rig-t.sidecar', role: 'sidecar', state: 'running', labels: { 'io.rig.rig': 't' } });
    fake.nets.splice(0); // the other up made its network after this one checked
    const run = upSteps(fake.engine(), plan, options);
    await expect(runStepTree(run.steps, () => {})).rejects.toThrow('A rig named t is already up, or being brought up.');
    expect(await run.cleanup(false)).toBe('network');
    expect(fake.nets).toEqual([]);
    expect(fake.guards.size).toBe(0);
    expect(fake.boxes.map((c) => c.id)).toEqual(['theirs']);
    expect(theirs.labels['io.rig.rig']).toBe('t');
  });

  it('refuses before making anything when a container name is taken by something not rig made', async () => {
    const fake = new FakeRuntime();
    fake.boxes.push({ id: 'x', name: 'rig-t.a', role: '', state: 'running', labels: {} });
    const run = upSteps(fake.engine(), plan, options);
    await expect(runStepTree(run.steps, () => {})).rejects.toThrow('The container name rig-t.a is taken by a container rig did not make');
    expect(await run.cleanup(false)).toBe('nothing');
    expect(fake.nets).toEqual([]);
  });
});
