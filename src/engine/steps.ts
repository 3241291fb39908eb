import type { Step } from './context.js';

/**
 * What the runner tells a view, step by step. `stopped`: the step had started when another failed, and the run
 * ended without waiting for it (its caller stops it). `children`: the steps of a concurrent group, as computed.
 */
export type StepEvent =
  | { step: Step; status: 'started' | 'done' | 'skipped' | 'stopped' }
  | { step: Step; status: 'failed'; error: Error }
  | { step: Step; output: string }
  | { step: Step; children: Step[] };

/**
 * Run steps in order, a concurrent group's at once, and tell `emit` what happens. The one place steps are run, so
 * a failure means the same in every view: the first step that fails ends the run at once (its concurrent
 * siblings are not waited for; they are reported `stopped`, and the caller stops them), and its error is the run's.
 */
export async function runStepTree(steps: Step[], emit: (event: StepEvent) => void): Promise<void> {
  const running = new Set<Step>();
  let ended = false;
  const tell = (event: StepEvent) => ended || emit(event);
  const runOne = async (step: Step): Promise<void> => {
    if (step.skip && (await step.skip())) return void tell({ step, status: 'skipped' });
    running.add(step);
    tell({ step, status: 'started' });
    try {
      if (step.run) await step.run((line) => tell({ step, output: line }));
      if (step.concurrent) {
        const children = step.concurrent();
        tell({ step, children });
        await Promise.all(children.map(runOne)); // the first failure, at once
      }
      running.delete(step);
      tell({ step, status: 'done' });
    } catch (err) {
      running.delete(step);
      tell({ step, status: 'failed', error: err as Error });
      throw err;
    }
  };
  try {
    for (const step of steps) await runOne(step);
  } finally {
    for (const step of running) tell({ step, status: 'stopped' });
    ended = true;
  }
}

/** Run steps with no view: rig as a library, or a caller that shows nothing. */
export const runQuietly = (steps: Step[]): Promise<void> => runStepTree(steps, () => {});
