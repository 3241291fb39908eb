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

/** An error meant for the user: what went wrong, how to fix it, and the exit code. */
export class RigError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = ExitCode.failed,
  ) {
    super(message);
    this.name = 'RigError';
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

export function formatProblem(p: Problem): string {
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
