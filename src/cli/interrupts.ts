import { ExitCode } from '../errors.js';

export { interruptedError } from '../engine/reporter.js';

/** SIGINT and SIGTERM, caught while a command works in the nodes; `release` gives them back. */
export interface Caught {
  /** Aborted on the first signal: what the command runs in the nodes is ended, and it starts nothing more. */
  signal: AbortSignal;
  /** The signal that came, if one did. */
  readonly which: NodeJS.Signals | undefined;
  release(): void;
}

/**
 * Catch SIGINT and SIGTERM for a command that runs things in nodes (test, update, exec --all): the first aborts
 * `signal` (the command ends what it started in the nodes, says what was done, and exits 130); a second leaves at
 * once, exit 130. As `up` and `run` do (ProcessInterrupts, in engine/reporter.ts).
 */
export function catchInterrupts(): Caught {
  const controller = new AbortController();
  let which: NodeJS.Signals | undefined;
  const handle = (signal: NodeJS.Signals) => {
    if (which) process.exit(ExitCode.interrupted);
    which = signal;
    controller.abort(signal);
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  return {
    signal: controller.signal,
    get which() {
      return which;
    },
    release() {
      process.off('SIGINT', handle);
      process.off('SIGTERM', handle);
    },
  };
}
