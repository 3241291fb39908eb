import type { Problem } from '../errors.js';
import { formatPath, type ParsedYaml, type PathSeg } from './positions.js';

// Shared by the schema pass (check-schema.ts) and the checks after it (load.ts, steps.ts).

export type YamlMap = Record<string, unknown>;
export const isMap = (v: unknown): v is YamlMap => typeof v === 'object' && v !== null && !Array.isArray(v);
export const has = (obj: YamlMap, key: string) => Object.hasOwn(obj, key);

/** Collects problems, placing each at its key or value in the file. */
export class Checker {
  readonly problems: Problem[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: ParsedYaml,
  ) {}

  /** at: the offending key, its value, or the start of the file (for things that are missing). */
  report(p: PathSeg[], message: string, hint: string, at: 'key' | 'value' | 'start' = 'key'): void {
    const pos = at === 'start' ? { line: 1, column: 1 } : at === 'key' ? this.doc.keyAt(p) : this.doc.valueAt(p);
    this.problems.push({ file: this.file, ...pos, path: formatPath(p), message, hint });
  }

  line(p: PathSeg[]): number {
    return this.doc.keyAt(p).line;
  }
}

/** "a list", "a map", "a string ("x")", "a number (3)": what a YAML value is, for messages. */
export function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (isMap(v)) return 'a map';
  if (typeof v === 'string') return v === '' ? 'an empty string' : `a string (${JSON.stringify(v)})`;
  return `a ${typeof v} (${String(v)})`;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
