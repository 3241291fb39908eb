import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/engine/context.js';
import { runStepTree, type StepEvent } from '../../src/engine/steps.js';

/** The events of a run as short strings: "title status", "title: output", "title [children]". */
function recorder() {
  const seen: string[] = [];
  const emit = (e: StepEvent) =>
    seen.push(
      'children' in e
        ? `${e.step.title} [${e.children.map((c) => c.title).join(', ')}]`
        : 'output' in e
          ? `${e.step.title}: ${e.output}`
          : `${e.step.title} ${e.status}${e.status === 'failed' ? ` (${e.error.message})` : ''}`,
    );
  return { seen, emit };
}

describe('the step runner every view shares', () => {
  it('runs steps in order, skips what says so, and passes each step its output lines', async () => {
    const { seen, emit } = recorder();
    const steps: Step[] = [
      { title: 'one', run: async (say) => say('hello') },
      { title: 'two', skip: () => true, run: async () => void seen.push('two ran') },
      { title: 'three', concurrent: () => [{ title: 'a', run: async () => {} }] },
    ];
    await runStepTree(steps, emit);
    expect(seen).toEqual([
      'one started',
      'one: hello',
      'one done',
      'two skipped',
      'three started',
      'three [a]',
      'a started',
      'a done',
      'three done',
    ]);
  });

  it('ends at the first failure in a concurrent group, without waiting for its siblings, and says which were stopped', async () => {
    const { seen, emit } = recorder();
    let finishSlow!: () => void;
    const slow = new Promise<void>((resolve) => (finishSlow = resolve));
    const steps: Step[] = [
      {
        title: 'nodes',
        concurrent: () => [
          { title: 'slow', run: async (say) => (await slow, say('too late')) },
          { title: 'bad', run: async () => Promise.reject(new Error('disk full')) },
        ],
      },
      { title: 'after', run: async () => {} },
    ];
    await expect(runStepTree(steps, emit)).rejects.toThrow('disk full');
    finishSlow(); // the slow step ends only now, after the run did
    await slow;
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([
      'nodes started',
      'nodes [slow, bad]',
      'slow started',
      'bad started',
      'bad failed (disk full)',
      'nodes failed (disk full)',
      'slow stopped',
    ]);
  });

  it('fails a sequence at the failing step and runs none after it', async () => {
    const { seen, emit } = recorder();
    const steps: Step[] = [
      { title: 'check', run: async () => Promise.reject(new Error('bad rig file')) },
      { title: 'make', run: async () => void seen.push('made') },
    ];
    await expect(runStepTree(steps, emit)).rejects.toThrow('bad rig file');
    expect(seen).toEqual(['check started', 'check failed (bad rig file)']);
  });
});
