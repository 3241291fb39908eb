import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { runStepTree } from '../../src/engine/steps.js';
import { destroyRig } from '../../src/engine/down.js';
import { checkNodeImages } from '../../src/engine/up-checks.js';
import { mayBeTakenDown } from '../../src/engine/taken-down.js';
import { upSteps } from '../../src/engine/up.js';
import { ExitCode, NodeFailed, NodeNotReady, RigError } from '../../src/errors.js';
import { planRig, startOrder, summarizePlan } from '../../src/plan/plan.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { FakeRuntime } from './fake-runtime.js';
import { nodeWiring } from '../../src/runtime/veth.js';

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
    const expected = plan.nodes.map((n, i) => `${nodeWiring(plan.name, n.spec.name).hostInterface} ${n.mac} 10.213.0.${16 + i}`);
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

describe('an up whose rig is taken down meanwhile (issue 21.24)', () => {
  /** Take the rig down from outside (as rig down does) once `node` is launched, then let `node` die of it. */
  function downAt(fake: FakeRuntime, node: string) {
    fake.scripts.set('a.v.test', 'silent');
    fake.scripts.set(node, 'dies');
    fake.onLaunch = (launched) => {
      if (launched !== node) return;
      fake.nets.splice(0);
      fake.boxes.splice(0);
    };
  }

  it('says so (cleanup is "gone"), and removes what it made that the down did not see', async () => {
    const fake = new FakeRuntime();
    downAt(fake, 'b.v.test');
    const run = upSteps(fake.engine(), plan, options);
    const failed = await runStepTree(run.steps, () => {}).catch((err: Error) => err);
    expect(failed).toBeInstanceOf(NodeNotReady);
    expect(await run.cleanup(false, failed)).toBe('gone');
    expect(made(fake)).toEqual([0, [], []]); // the nodes the down missed went too
  });

  it('leaves alone a rig of that name that another up made since', async () => {
    const fake = new FakeRuntime();
    downAt(fake, 'b.v.test');
    const run = upSteps(fake.engine(), plan, options);
    const failed = await runStepTree(run.steps, () => {}).catch((err: Error) => err);
    const elsewhere = fake.addNetwork('u'); // so that the fake gives theirs another id than this up's
    const theirs = fake.addNetwork('t');
    fake.addSidecar('t');
    expect(await run.cleanup(false, failed)).toBe('gone');
    expect(fake.nets).toEqual([elsewhere, theirs]);
    expect(fake.boxes.map((c) => c.id)).toEqual(['sc-t']);
  });

  it('takes a node that died on its own, with the rig still there, for what it is', async () => {
    const fake = new FakeRuntime();
    fake.scripts.set('a.v.test', 'dies');
    const run = upSteps(fake.engine(), plan, { ...options, downSettleMs: 200 });
    const failed = await runStepTree(run.steps, () => {}).catch((err: Error) => err);
    expect((failed as Error).message).toBe('a.v.test stopped before it was ready');
    expect(mayBeTakenDown(failed)).toBe(true); // so the network's removal is waited for, a little while
    expect(await run.cleanup(false, failed)).toBe('rig');
    expect(made(fake)).toEqual([0, [], []]);
  });

  it("takes a node's own failed step, bad input and interrupts as no sign of a rig down", () => {
    const stopped = new NodeNotReady('a', 'a stopped', 1, { cause: new NodeFailed('stopped', 'stopped') });
    const failedStep = new NodeNotReady('a', 'a failed', 1, { cause: new NodeFailed('failed', 'failed: step 1/1') });
    expect(mayBeTakenDown(stopped)).toBe(true);
    expect(mayBeTakenDown(new Error('(HTTP code 409) unexpected'))).toBe(true);
    expect(mayBeTakenDown(failedStep)).toBe(false);
    expect(mayBeTakenDown(new RigError('bad', undefined, ExitCode.badInput))).toBe(false);
    expect(mayBeTakenDown(new RigError('Interrupted', undefined, ExitCode.interrupted))).toBe(false);
    expect(mayBeTakenDown(undefined)).toBe(false);
  });
});

describe('node images (issue 21.10)', () => {
  const withImages = planRig(
    parseRigFile(
      [
        'name: t',
        'domain: v.test',
        'configs: []',
        'nodes:',
        '  a.v.test:',
        '  b.v.test:',
        '    image: gone:1',
        '  c.v.test: { image: "gone:1" }',
        '  d.v.test: { image: "there:1" }',
        '',
      ].join('\n'),
      '/work/rigs/t.yaml',
    ),
  );

  it('names each node whose image is not in the engine, at its line in the rig file', async () => {
    const fake = new FakeRuntime();
    fake.imageExists = (async (ref: string) => ref !== 'gone:1') as FakeRuntime['imageExists']; // the fake has every image
    const err = (await checkNodeImages(fake.engine(), withImages).catch((e: RigError) => e)) as RigError;
    expect(err).toBeInstanceOf(RigError);
    expect(err.exitCode).toBe(ExitCode.badInput);
    expect(err.message).toBe(
      'Node image gone:1 is not in the Docker engine, and rig uses no registry:\n' +
        '  /work/rigs/t.yaml:6: node b.v.test: image gone:1 not found\n' +
        '  /work/rigs/t.yaml:8: node c.v.test: image gone:1 not found',
    );
    expect(err.hint).toMatch(/^build or load the image first/);
  });

  it('names each node that asks for an image rig does not build, at its line', async () => {
    const fake = new FakeRuntime();
    const bad = planRig(
      parseRigFile('name: t\ndomain: v.test\nconfigs: []\nnodes:\n  a.v.test: { image: "rig:nosuch" }\n', '/work/rigs/t.yaml'),
    );
    await expect(checkNodeImages(fake.engine(), bad)).rejects.toThrow(
      'rig builds no such node image:\n  /work/rigs/t.yaml:5: node a.v.test: image rig:nosuch',
    );
  });
});

describe('the plan of up --dry-run (issue 21.13)', () => {
  const dry = (network: string) =>
    planRig(
      parseRigFile(
        [
          'name: d',
          'domain: v.test',
          `network: ${network}`,
          'configs: [{ dir: hiera }]',
          'nodes:',
          '  c.v.test: { needs: [b.ready_fact, a] }',
          '  b.v.test: { needs: [a], mirrors: live-b.prod.example }',
          '  a.v.test:',
          '  e.v.test:',
          '',
        ].join('\n'),
        '/work/rigs/d.yaml',
      ),
    );

  it('lists the nodes in start order, needs first, each once, at the address of its place in the file', () => {
    const summary = summarizePlan(dry('{ subnet: 10.9.8.0/24 }'));
    expect(summary.nodes.map((n) => [n.fqdn, n.ip])).toEqual([
      ['a.v.test', '10.9.8.18'],
      ['b.v.test', '10.9.8.17'],
      ['c.v.test', '10.9.8.16'],
      ['e.v.test', '10.9.8.19'],
    ]);
    expect(summary.sidecar).toEqual({ container: 'rig-d.sidecar', dns: '10.9.8.2', etcd: '10.9.8.3' });
    expect(summary.links).toEqual([{ fqdn: 'b.v.test', path: '/work/rigs/hiera/b.v.test.yaml', target: 'live-b.prod.example.yaml' }]);
    expect(summary.nodes[1]).toMatchObject({
      container: 'rig-d.b',
      image: 'rig:base',
      init: 'rig',
      line: 7,
      mirrors: 'live-b.prod.example',
    });
    expect(JSON.stringify(summary)).not.toContain('"spec"');
  });

  it('gives the places in the /24 that up picks when the rig file names no subnet', () => {
    const summary = summarizePlan(dry('{ internal: true }'));
    expect(summary.network).toMatchObject({ name: 'rig-d', pool: '10.213.0.0/16', internal: true });
    expect(summary.network.subnet).toBeUndefined();
    expect(summary.sidecar).toMatchObject({ dns: '.2', etcd: '.3' });
    expect(summary.nodes.map((n) => n.ip)).toEqual(['.18', '.17', '.16', '.19']);
  });

  it('keeps the file order where no need says otherwise', () => {
    expect(startOrder(dry('{}').nodes).map((n) => n.spec.shortName)).toEqual(['a', 'b', 'c', 'e']);
  });
});
