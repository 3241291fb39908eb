import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/context.js';
import { serveHostSteps, type HostStepNode } from '../../src/engine/host-steps.js';

/** The host's side of an ansible step, with a fake fact store: what it answers to which request, before any run. */
async function serving(nodes: HostStepNode[]) {
  let request: (node: string, value: string) => void = () => {};
  const answers: string[] = [];
  let answered = () => {};
  const facts = {
    watchHostSteps: async (_rig: string, onRequest: typeof request) => ((request = onRequest), () => {}),
    answerHostStep: async (_rig: string, node: string, nonce: string, verdict: string) => {
      answers.push(`${node} ${nonce}: ${verdict}`);
      answered();
    },
    rigState: async () => new Map(),
  };
  const stop = await serveHostSteps({} as Engine, facts, 'r', nodes);
  const ask = (node: string, value: string) =>
    new Promise<string[]>((resolve) => {
      answered = () => resolve(answers);
      request(node, value);
      setImmediate(() => resolve(answers)); // no answer: nothing was due (answers come at once, in the same turn)
    });
  return { ask, stop, answers };
}

const barn = {
  name: 'barn.v.test',
  roles: [],
  provision: [
    { kind: 'shell' as const, script: 'true' },
    { kind: 'ansible' as const, playbook: '/x/site.yml' },
  ],
};

describe('the host side of ansible steps', () => {
  it('watches nothing for nodes without an ansible step', async () => {
    const stop = await serveHostSteps({} as Engine, {} as never, 'r', [{ name: 'a.v.test', roles: [], provision: [] }]);
    expect(stop).toBeTypeOf('function');
  });

  it("answers a step that is not an ansible step of the node's in the rig file with a failure, and never runs what a node names", async () => {
    const { ask, stop } = await serving([barn]);
    expect(await ask('barn.v.test', 'n1 1 1')).toEqual(['barn.v.test n1: 1 failed: the rig file has no ansible step 1 for barn.v.test']);
    stop();
  });

  it('leaves alone requests that are malformed or from nodes not served; refuses a node whose steps it does not know', async () => {
    const { ask, stop, answers } = await serving([barn, { name: 'mill.v.test', roles: [] }]);
    await ask('barn.v.test', 'n1 2 1; rm -rf /');
    await ask('well.v.test', 'n1 1 1');
    expect(answers).toEqual([]);
    expect(await ask('mill.v.test', 'n2 1 1')).toEqual([
      expect.stringMatching(/^mill\.v\.test n2: 1 failed: rig does not know mill\.v\.test's steps now/),
    ]);
    stop();
  });

  it('runs the nodes with the same step together once they all asked, each told its own verdict', async () => {
    const mill = { ...barn, name: 'mill.v.test' };
    const { ask, stop, answers } = await serving([barn, mill]);
    await ask('barn.v.test', 'n1 2 1');
    expect(answers).toEqual([]); // waits for mill, which has the same step
    await ask('mill.v.test', 'n2 2 1');
    await new Promise((resolve) => setImmediate(resolve));
    // This engine has no nodes to make an inventory of: the shared run fails, and both hear it.
    expect(answers.sort()).toEqual([
      expect.stringMatching(/^barn\.v\.test n1: 1 failed: the host could not run it: /),
      expect.stringMatching(/^mill\.v\.test n2: 1 failed: the host could not run it: /),
    ]);
    stop();
  });
});
