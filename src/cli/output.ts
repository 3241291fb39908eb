import { printable } from '../printable.js';

/**
 * What rig says besides a command's result, on stderr: notes (what it did, what to do next), warnings, and with
 * --verbose what it asked the engine and how long that took. With --json every such line is a JSON object (stdout
 * holds the one JSON result); --quiet drops the notes, never warnings or errors.
 */
export interface OutputSettings {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

const settings: OutputSettings = { json: false, quiet: false, verbose: false };

export function configureOutput(next: Partial<OutputSettings>): void {
  Object.assign(settings, next);
}

export const outputSettings = (): Readonly<OutputSettings> => settings;

function write(level: 'note' | 'warning' | 'verbose', message: string, fields: Record<string, unknown> = {}): void {
  if (settings.json) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
  else
    process.stderr.write(
      `${level === 'warning' ? 'rig: warning: ' : level === 'verbose' ? `rig: [${timeOfDay()}] ` : 'rig: '}${printable(message)}\n`,
    );
}

const timeOfDay = () => new Date().toISOString().slice(11, 23);

/** A line for the user about what happened or what to do next (dropped by --quiet). */
export function note(message: string, fields?: Record<string, unknown>): void {
  if (!settings.quiet) write('note', message, fields);
}

/** Something the user should know, even with --quiet. */
export function warn(message: string, fields?: Record<string, unknown>): void {
  write('warning', message, fields);
}

/** With --verbose: what rig does under the hood (engine calls, timings). */
export function verbose(message: string, fields?: Record<string, unknown>): void {
  if (settings.verbose) write('verbose', message, fields);
}

/** Time `work` and say so with --verbose: "what: 12 ms". */
export async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  if (!settings.verbose) return work();
  const start = performance.now();
  try {
    return await work();
  } finally {
    verbose(`${what}: ${Math.round(performance.now() - start)} ms`, { what, ms: Math.round(performance.now() - start) });
  }
}

/**
 * Colour as the user asked: NO_COLOR (any non-empty value) turns it off, FORCE_COLOR turns it on, as
 * https://no-color.org and chalk define them; chalk alone does not read NO_COLOR.
 */
export async function applyColourSettings(): Promise<void> {
  const noColour = !!process.env.NO_COLOR && !process.env.FORCE_COLOR;
  if (!noColour) return;
  const { default: chalk, chalkStderr } = await import('chalk');
  chalk.level = 0;
  chalkStderr.level = 0;
}

/** Whether rig's own arguments (those before `--`) ask for --json: then a usage error is a JSON line too. */
export function jsonAsked(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}
