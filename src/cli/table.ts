import chalk from 'chalk';

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

/** "90", "90s", "2m", "1m30s" -> milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s?)?$/.exec(text.trim());
  if (!match || (!match[1] && !match[2])) throw new Error(`not a duration: ${text} (write e.g. 90s or 2m)`);
  return (Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0)) * 1000;
}
