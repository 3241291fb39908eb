// Small helpers of the bench: lines, statistics, formatting, timing, tables.

export const log = (line: string): void => void process.stderr.write(`${line}\n`);

export const lines = (text: string | undefined | null): string[] =>
  (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

export const tailOf = (text: string | undefined, n = 12): string => lines(text).slice(-n).join('\n');

/** 1, 2, ..., n */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

export const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** A number, or null where nothing was measured. */
export type Maybe = number | null;

export function median(values: readonly (number | null | undefined)[]): Maybe {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): Maybe {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return null;
  return v[Math.max(0, Math.ceil((p / 100) * v.length) - 1)];
}

export interface Stats {
  median: Maybe;
  min: Maybe;
  max: Maybe;
  n: number;
  values: number[];
}

export const stats = (values: number[]): Stats => ({
  median: median(values),
  min: values.length ? Math.min(...values) : null,
  max: values.length ? Math.max(...values) : null,
  n: values.length,
  values,
});

export const round = (x: Maybe | undefined, digits = 1): Maybe =>
  x === null || x === undefined ? null : Math.round(x * 10 ** digits) / 10 ** digits;
/** Rounded, for values that are always measured. */
export const roundN = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
export const sec = (ms: Maybe | undefined): string => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(2));
export const msf = (ms: Maybe | undefined): string => (ms === null || ms === undefined ? '-' : ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
export const ratio = (a: Maybe, b: Maybe): Maybe => (a === null || b === null || !b ? null : a / b);
export const times = (r: Maybe): string => (r === null ? '-' : `${r.toFixed(2)}×`);

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = performance.now();
  const result = await fn();
  return { ms: performance.now() - start, result };
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

export const errorMessage = (err: unknown): string => String((err as Error | undefined)?.message ?? err);
