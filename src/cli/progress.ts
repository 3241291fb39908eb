import type { ListrTask } from 'listr2';
import type { Step } from '../engine/context.js';
import { outputSettings } from './output.js';

export type OutputMode = 'tty' | 'plain' | 'json' | 'quiet'; // quiet: no progress (rig used as a library)

export function outputMode(json: boolean, stream: NodeJS.WriteStream = process.stderr): OutputMode {
  if (json) return 'json';
  return stream.isTTY && !process.env.CI ? 'tty' : 'plain'; // progress goes to stderr: a terminal there is what counts
}

/**
 * Run steps with progress: listr2's live view in a terminal, timestamped lines otherwise, and in JSON mode
 * one JSON object per event on stderr (stdout stays for the result).
 */
export async function runSteps(steps: Step[], mode: OutputMode): Promise<void> {
  if (outputSettings().quiet) mode = 'quiet'; // rig --quiet: progress is neither a result nor a warning
  if (mode === 'json' || mode === 'quiet') return runJson(steps, mode === 'quiet');
  const { Listr, ListrLogger, PRESET_TIMER, PRESET_TIMESTAMP, ProcessOutput } = await import('listr2'); // not for JSON
  const stderrOnly = () => new ProcessOutput(process.stderr, process.stderr);
  const toTask = (step: Step): ListrTask => ({
    title: step.title,
    skip: step.skip,
    task: async (_ctx, task) => {
      if (step.run) await step.run((line) => (task.output = mode === 'tty' ? line : `${step.title}: ${line}`));
      if (step.concurrent) return task.newListr(step.concurrent().map(toTask), { concurrent: true, exitOnError: true });
    },
    rendererOptions: { persistentOutput: false, outputBar: 1 },
  });
  await new Listr(steps.map(toTask), {
    renderer: mode === 'tty' ? 'default' : 'simple',
    fallbackRenderer: 'simple',
    // Progress goes to stderr, so stdout carries only results (a table, JSON, a command's own output under rig run).
    rendererOptions:
      mode === 'tty'
        ? { timer: PRESET_TIMER, collapseSubtasks: false, logger: new ListrLogger({ processOutput: stderrOnly() }) }
        : { timestamp: PRESET_TIMESTAMP, logger: new ListrLogger({ processOutput: stderrOnly() }) },
    exitOnError: true,
    collectErrors: false,
    registerSignalListeners: false,
  }).run();
}

async function runJson(steps: Step[], quiet = false): Promise<void> {
  const emit = (event: Record<string, unknown>): void => {
    if (!quiet) process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n');
  };
  const runOne = async (step: Step): Promise<void> => {
    if (step.skip && (await step.skip())) return emit({ step: step.title, status: 'skipped' });
    emit({ step: step.title, status: 'started' });
    try {
      if (step.run) await step.run((line) => emit({ step: step.title, output: line }));
      if (step.concurrent) {
        const results = await Promise.allSettled(step.concurrent().map(runOne));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      }
      emit({ step: step.title, status: 'done' });
    } catch (err) {
      emit({ step: step.title, status: 'failed', error: (err as Error).message });
      throw err;
    }
  };
  for (const step of steps) await runOne(step);
}
