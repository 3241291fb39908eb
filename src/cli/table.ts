import chalk from 'chalk';
import { ExitCode, RigError } from '../errors.js';

/** A plain text table; colour only when the stream is a terminal (chalk detects that). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [chalk.bold(line(headers)), ...rows.map((r) => line(r.map((c) => c ?? '')))].join('\n');
}

export function colourState(state: string): string {
  if (state === 'ready') return chalk.green(state);
  if (state.startsWith('failed') || state === 'stopped') return chalk.red(state);
  return chalk.yellow(state);
}

/** "90", "90s", "2m", "1m30s" -> milliseconds; anything else (or zero) is bad input, named by `option`. */
export function parseDuration(text: string, option = '--timeout'): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s?)?$/.exec(text.trim());
  const ms = match && (match[1] || match[2]) ? (Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0)) * 1000 : 0;
  if (!ms || ms > 2 ** 31 - 1) throw new RigError(`${option} ${JSON.stringify(text)} is not a duration (or not one rig can wait).`, 'write e.g. 90s, 10m or 1m30s', ExitCode.badInput);
  return ms;
}
