import type { ListrTask } from 'listr2';
import chalk from 'chalk';
import type { Step } from '../engine/context.js';
import { runStepTree, type StepEvent } from '../engine/steps.js';
import { ProcessInterrupts, type Reporter } from '../engine/reporter.js';
import { note, outputSettings, warn } from './output.js';

export type OutputMode = 'tty' | 'plain' | 'json' | 'quiet'; // quiet: no progress (rig used as a library)

export function outputMode(json: boolean, stream: NodeJS.WriteStream = process.stderr): OutputMode {
  if (json) return 'json';
  return stream.isTTY && !process.env.CI ? 'tty' : 'plain'; // progress goes to stderr: a terminal there is what counts
}

/**
 * Run steps with progress: listr2's live view in a terminal, timestamped lines otherwise, and in JSON mode
 * one JSON object per event on stderr (stdout stays for the result). Progress goes to stderr in every mode.
 */
export async function runSteps(steps: Step[], mode: OutputMode): Promise<void> {
  if (outputSettings().quiet) mode = 'quiet'; // rig --quiet: progress is neither a result nor a warning
  if (mode === 'quiet') return runStepTree(steps, () => {});
  if (mode === 'json') return runStepTree(steps, jsonLine);
  if (mode === 'plain') return runStepTree(steps, plainLine);
  const view = await terminalView(steps);
  try {
    await runStepTree(steps, view.emit);
  } finally {
    await view.ended();
  }
}

/**
 * What the engine's operations tell the user of the CLI: progress in the mode asked (none when quiet: then no
 * notes either), notes and warnings on stderr; SIGINT and SIGTERM caught while they work.
 */
export function cliReporter(mode: OutputMode): Reporter {
  return {
    runSteps: (steps) => runSteps(steps, mode),
    note: (message) => mode !== 'quiet' && note(message),
    warn: (message) => warn(message),
    interrupts: () => new ProcessInterrupts(),
  };
}

function jsonLine(event: StepEvent): void {
  const fields =
    'children' in event
      ? undefined
      : 'output' in event
        ? { output: event.output }
        : { status: event.status, ...(event.status === 'failed' ? { error: event.error.message } : {}) };
  if (fields) process.stderr.write(JSON.stringify({ time: new Date().toISOString(), step: event.step.title, ...fields }) + '\n');
}

/** As listr2's simple renderer has it: a mark, the time, the step, and what it says. */
function plainLine(event: StepEvent): void {
  if ('children' in event) return;
  const time = `[${new Date().toTimeString().slice(0, 8)}]`;
  const title = event.step.title;
  const line =
    'output' in event
      ? `${chalk.dim('›')} ${time} ${title}: ${event.output}`
      : {
          started: `${chalk.yellow('❯')} ${time} ${title}`,
          done: `${chalk.green('✔')} ${time} ${title}`,
          skipped: `${chalk.yellow('↓')} ${time} ${title} [SKIPPED]`,
          stopped: `${chalk.yellow('■')} ${time} ${title} [STOPPED]`,
          failed: `${chalk.red('✖')} ${time} ${title} [FAILED: ${event.status === 'failed' ? event.error.message : ''}]`,
        }[event.status];
  process.stderr.write(`${line}\n`);
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // the view awaits it, or the run ended first
  return { promise, resolve, reject };
}

/** A step as the terminal view shows it: listr2 tasks that follow the runner's events and never run anything. */
class ShownStep {
  readonly begun = deferred<'started' | 'skipped'>();
  readonly ended = deferred<'done' | 'stopped'>();
  readonly children = deferred<ShownStep[]>();
  private task?: { output?: string | unknown };
  private lastOutput?: string;

  constructor(readonly title: string) {}

  say(line: string): void {
    this.lastOutput = line;
    if (this.task) this.task.output = line;
  }

  toTask(): ListrTask {
    return {
      title: this.title,
      skip: async () => (await this.begun.promise) === 'skipped',
      task: async (_ctx, task) => {
        this.task = task;
        if (this.lastOutput) task.output = this.lastOutput;
        const children = await Promise.race([this.children.promise, this.ended.promise.then(() => undefined)]);
        if (children)
          return task.newListr(
            children.map((c) => c.toTask()),
            { concurrent: true, exitOnError: false },
          );
        if ((await this.ended.promise) === 'stopped') task.skip('stopped');
      },
      rendererOptions: { persistentOutput: false, outputBar: 1 },
    };
  }
}

async function terminalView(steps: Step[]): Promise<{ emit: (event: StepEvent) => void; ended: () => Promise<void> }> {
  const { Listr, ListrLogger, PRESET_TIMER, ProcessOutput } = await import('listr2'); // not for plain or JSON
  const shown = new Map<Step, ShownStep>(steps.map((s) => [s, new ShownStep(s.title)]));
  const emit = (event: StepEvent) => {
    const view = shown.get(event.step)!;
    if ('children' in event) {
      const children = event.children.map((c) => new ShownStep(c.title));
      event.children.forEach((c, i) => shown.set(c, children[i]));
      view.children.resolve(children);
    } else if ('output' in event) {
      view.say(event.output);
    } else if (event.status === 'started' || event.status === 'skipped') {
      view.begun.resolve(event.status);
    } else if (event.status === 'failed') {
      view.ended.reject(event.error);
    } else {
      view.ended.resolve(event.status);
    }
  };
  const list = new Listr(
    [...shown.values()].map((s) => s.toTask()),
    {
      renderer: 'default',
      rendererOptions: {
        timer: PRESET_TIMER,
        collapseSubtasks: false,
        logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }),
      },
      exitOnError: true,
      collectErrors: false,
      registerSignalListeners: false,
    },
  );
  const rendered = list.run().catch(() => {}); // the run's own error is the runner's
  return {
    emit,
    ended: async () => {
      // Steps the run never reached end the view too.
      for (const view of new Set(shown.values())) {
        view.begun.resolve('skipped');
        view.ended.resolve('stopped');
      }
      await rendered;
    },
  };
}
