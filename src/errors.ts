/** Exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  badInput: 2,
  engineUnavailable: 3,
  timeout: 4,
  interrupted: 130,
  internal: 70,
} as const;

/**
 * An error meant for the user: what went wrong, how to fix it, and the exit code. `cause` keeps the error it
 * came from (an engine's, a tool's) for --verbose and for bug reports.
 */
export class RigError extends Error {
  readonly detail?: string; // printed once, after the message: a node's log tail (progress shows the message alone)

  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = ExitCode.failed,
    options?: { cause?: unknown; detail?: string },
  ) {
    super(message, options);
    this.name = 'RigError';
    this.detail = options?.detail;
  }

  /** The same error with another hint (the one that fits what is left after cleanup). */
  withHint(hint: string | undefined): RigError {
    return new RigError(this.message, hint, this.exitCode, { cause: this.cause, detail: this.detail });
  }
}

/** A node that did not get ready during `up`: the user's error about it, with the node named for what follows. */
export class NodeNotReady extends RigError {
  constructor(
    readonly node: string,
    message: string,
    exitCode: number,
    options: { cause?: unknown; detail?: string },
  ) {
    super(message, `see the whole log with: rig logs ${node}`, exitCode, options);
  }
}

/**
 * A fault in rig itself, not in what the user gave it: a broken invariant. The boundary prints it as a bug to
 * report (exit 70), with its cause.
 */
export class InternalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InternalError';
  }
}

/** A node that ended on its way to ready: it stopped (its container died) or published a failed stage. */
export class NodeFailed extends Error {
  constructor(
    readonly reason: 'stopped' | 'failed',
    message: string,
    readonly timedOut = false, // the node's own wait ran out (a timeout, exit 4, as one the host sees)
  ) {
    super(message);
    this.name = 'NodeFailed';
  }
}

export interface Problem {
  file: string;
  line: number; // 1-based
  column: number; // 1-based
  path: string; // key path, e.g. nodes["barn.village.test"].image
  message: string;
  hint?: string;
}

function formatProblem(p: Problem): string {
  const where = `${p.file}:${p.line}:${p.column}`;
  const key = p.path ? `${p.path}: ` : '';
  return `${where}: ${key}${p.message}${p.hint ? `\n    fix: ${p.hint}` : ''}`;
}

/** Bad rig file: every problem found, each with file:line:column and key path. Exit code 2. */
export class RigFileError extends RigError {
  constructor(readonly problems: Problem[]) {
    super(
      `${problems.length === 1 ? 'a problem' : `${problems.length} problems`} in the rig file:\n` +
        problems.map((p) => '  ' + formatProblem(p)).join('\n'),
      undefined,
      ExitCode.badInput,
    );
    this.name = 'RigFileError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
