import { spawn } from 'node:child_process';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  output: string; // stdout and stderr, interleaved as they came
}

/** A host command that failed: which, why (`code`, e.g. ENOENT, when it could not start) and all it said. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: string | undefined, // ENOENT when the program is missing
    readonly result: CommandResult,
  ) {
    super(`${command} ${code ? `could not run (${code})` : `exited ${result.exitCode}`}: ${(result.stderr || result.output).trim()}`);
    this.name = 'CommandError';
  }
}

/**
 * Run a short host command (ip, iptables, nft, git, the LXC tools) and collect its output: how rig runs any
 * command whose output it only reads once it ended. Not execa: these run on every `rig up`, and loading execa
 * (0.13-0.27 s, measured) costs more start time than all of them take together; execa, loaded on demand, runs
 * what streams (rig run's command, image builds). Rejects with a CommandError when it exits non-zero, cannot start
 * or outlives `timeoutMs` (killed), unless `allowFailure`.
 */
export function runCommand(
  program: string,
  args: string[],
  options: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const start = performance.now();
  const run = new Promise<CommandResult>((resolve, reject) => {
    const stdio = [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] as const;
    const child = spawn(program, args, { stdio: [...stdio], ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}) });
    const out: string[] = [];
    const err: string[] = [];
    const all: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => (out.push(chunk.toString()), all.push(chunk.toString())));
    child.stderr!.on('data', (chunk: Buffer) => (err.push(chunk.toString()), all.push(chunk.toString())));
    const result = (exitCode: number): CommandResult => ({ exitCode, stdout: out.join(''), stderr: err.join(''), output: all.join('') });
    child.on('error', (e: NodeJS.ErrnoException) => reject(new CommandError(program, e.code, result(127))));
    child.on('close', (code) => {
      const done = result(code ?? 1);
      if (done.exitCode === 0 || options.allowFailure) resolve(done);
      else reject(new CommandError(`${program} ${args.join(' ')}`, undefined, done));
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
  if (observer) {
    const seen = (exitCode: number) => observer!(`${program} ${args.join(' ')}`, exitCode, performance.now() - start);
    run.then(
      (r) => seen(r.exitCode),
      (e: CommandError) => seen(e.result?.exitCode ?? 127),
    );
  }
  return run;
}

/** Who hears of every host command run, with its exit code and how long it took (rig --verbose). */
let observer: ((command: string, exitCode: number, ms: number) => void) | undefined;
export function observeCommands(hear: typeof observer): void {
  observer = hear;
}
