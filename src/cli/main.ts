import { type Command, CommanderError } from 'commander';
import { ExitCode, RigError } from '../errors.js';
import { jsonAsked } from './output.js';
import { program } from './program.js';

/** With --json, commander's usage errors are kept back, to be one JSON line (its usage lines are the hint). */
function holdUsageErrors(command: Command, usage: string[]): void {
  const hold = (text: string) => usage.push(text.trim());
  command.configureOutput({ outputError: () => {}, writeErr: hold });
  command.commands.forEach((sub) => holdUsageErrors(sub, usage));
}

/** The exit code when a reader of rig's output went away before it was all written. */
const READER_GONE = 141;

/** The one error boundary: user errors print their message and hint; anything else is a bug to report. */
async function main(argv: string[]): Promise<number> {
  const json = jsonAsked(argv.slice(2));
  const usage: string[] = [];
  try {
    const rig = program();
    if (json) holdUsageErrors(rig, usage);
    await rig.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (caught) {
    if (caught instanceof CommanderError) {
      if (caught.exitCode === 0) return ExitCode.ok;
      if (json) {
        const line = {
          time: new Date().toISOString(),
          level: 'error',
          message: caught.message.replace(/^error: /, ''),
          hint: usage.join(' '),
          exitCode: ExitCode.badInput,
        };
        process.stderr.write(`${JSON.stringify(line)}\n`);
      }
      return ExitCode.badInput;
    }
    // dockerd or LXD's daemon went away under a command: its failure, not a bug of rig's.
    const err: unknown = caught instanceof RigError ? caught : ((await engineGoneError(caught)) ?? caught);
    const chalk = (await import('chalk')).chalkStderr;
    const { outputSettings } = await import('./output.js');
    if (outputSettings().json) {
      // --json: the error is one JSON line on stderr too, like every other line there.
      const rigError = err instanceof RigError;
      const exitCode = rigError ? err.exitCode : ExitCode.internal;
      const line = {
        time: new Date().toISOString(),
        level: 'error',
        message: rigError ? err.message : `internal error: ${(err as Error)?.stack ?? err}`,
        detail: rigError ? err.detail : undefined,
        hint: rigError ? err.hint : 'this is a bug in rig; please report it with the command you ran',
        exitCode,
      };
      process.stderr.write(`${JSON.stringify(line)}\n`);
      return exitCode;
    }
    if (err instanceof RigError) {
      process.stderr.write(`${chalk.red('rig:')} ${err.message}\n${err.detail ? `${err.detail}\n` : ''}`);
      if (err.hint) process.stderr.write(`${chalk.yellow('fix:')} ${err.hint}\n`);
      return err.exitCode;
    }
    const cause = (err as Error)?.cause;
    const causeText = cause ? `\ncaused by: ${(cause as Error)?.stack ?? cause}` : '';
    process.stderr.write(
      `${chalk.red('rig: internal error:')} ${(err as Error)?.stack ?? err}${causeText}\nThis is a bug in rig; please report it with the command you ran.\n`,
    );
    return ExitCode.internal;
  }
}

/**
 * Resolve once everything written to the stream has reached its reader: a pipe to a slow reader holds what rig
 * printed in memory until it reads it, and process.exit would drop that. A reader that went away ends the wait too.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    // An empty write's callback comes once every write before it has gone out (or failed: EPIPE, nobody reads).
    stream.write('', () => resolve());
  });
}

/**
 * A reader that went away (`rig status | head -1`, `rig watch | head`) ends rig as SIGPIPE ends other commands, but
 * never as a crash: a command that cleans up on an interrupt (up, test, exec, watch...) takes it as one, and ends
 * the way it does on Ctrl-C; any other ends at once. It exits 141 (128 + SIGPIPE), unless it failed of its own
 * accord; what it still prints is dropped.
 */
let readerGone = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    if (readerGone) return;
    readerGone = true;
    if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
    else process.exit(READER_GONE);
  });
}

/** The error to tell when the Docker engine or this host's LXD daemon went away under a command (loaded only then). */
async function engineGoneError(err: unknown): Promise<RigError | undefined> {
  const [{ engineStopped }, { lxdStopped }, { settings }] = await Promise.all([
    import('../runtime/docker/connect.js'),
    import('../runtime/lxd/registry.js'),
    import('../compose.js'),
  ]);
  return engineStopped(err) ?? lxdStopped(err, settings().lxdSocket);
}

const code = await main(process.argv);
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
// Then exit: a failed up may leave timers and engine streams behind that must not hold the process.
process.exit(readerGone && (code === ExitCode.ok || code === ExitCode.interrupted) ? READER_GONE : code);
