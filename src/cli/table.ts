import chalk from 'chalk';
import { printable } from '../printable.js';

/** A cell with a style (a colour) applied after its width is measured and its text made printable. */
export interface Styled {
  text: string;
  style: (text: string) => string;
}
export type Cell = string | Styled;

/**
 * A plain text table; colour only when the stream is a terminal (chalk detects that). Every cell is made
 * printable: tables show what nodes published.
 */
export function table(headers: string[], rows: Cell[][]): string {
  const text = (c: Cell | undefined) => printable(typeof c === 'string' ? c : (c?.text ?? ''));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells: Cell[]) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? text(c) : text(c).padEnd(widths[i]);
        return typeof c === 'string' ? padded : c.style(padded);
      })
      .join('  ');
  return [chalk.bold(line(headers)), ...rows.map(line)].join('\n');
}

export function colourState(state: string): Styled {
  if (state === 'ready') return { text: state, style: chalk.green };
  if (state.startsWith('failed') || state === 'stopped' || state === 'lost') return { text: state, style: chalk.red };
  return { text: state, style: chalk.yellow };
}
