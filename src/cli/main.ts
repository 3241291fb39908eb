import { CommanderError } from 'commander';
import { ExitCode, RigError } from '../errors.js';
import { program } from './program.js';

/** The one error boundary: user errors print their message and hint; anything else is a bug to report. */
async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
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

// Exit now: a failed up may leave timers and engine streams behind that must not hold the process.
process.exit(await main(process.argv));
