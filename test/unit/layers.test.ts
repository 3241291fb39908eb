import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * Imports flow one way: shared modules -> rig file -> plan -> runtime -> engine (with facts and trace)
 * -> CLI and the API. A file may import its own layer or a lower one; folders form no cycle.
 */
const src = resolve(import.meta.dirname, '../../src');
const LAYER: Record<string, number> = {
  errors: 0,
  labels: 0,
  printable: 0,
  ipv4: 0,
  rigfile: 1,
  plan: 2,
  runtime: 3,
  ansible: 3, // running ansible-playbook and its inventory, for the engine's ansible steps
  facts: 4,
  engine: 4,
  trace: 4, // rig trace: reads the facts' history (facts) through the engine's way in
  cli: 5,
  api: 5,
};

const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
const unitOf = (file: string) => file.split('/')[0].replace(/\.ts$/, '');
const imports = files.flatMap((file) =>
  [...readFileSync(join(src, file), 'utf8').matchAll(/^(?:import|export)[^;]*? from '(\.[^']+)'/gm)].map((m) => ({
    from: file,
    to: relative(src, resolve(dirname(join(src, file)), m[1])).replace(/\.js$/, '.ts'),
  })),
);

describe('layers', () => {
  it('knows every top-level module and folder of src/', () => {
    expect([...new Set(files.map(unitOf))].filter((u) => !(u in LAYER))).toEqual([]);
    expect(imports.length).toBeGreaterThan(100); // the scan sees the imports
  });

  it('has no import from a higher layer', () => {
    const upward = imports.filter((i) => LAYER[unitOf(i.to)] > LAYER[unitOf(i.from)]).map((i) => `${i.from} -> ${i.to}`);
    expect(upward).toEqual([]);
  });

  it('has no cycle between folders', () => {
    const edges = new Map<string, Set<string>>();
    for (const i of imports) {
      const [a, b] = [unitOf(i.from), unitOf(i.to)];
      if (a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b));
    }
    const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
      [...(edges.get(from) ?? [])].some((n) => n === to || (!seen.has(n) && (seen.add(n), reaches(n, to, seen))));
    const cycles = [...edges.keys()].filter((folder) => reaches(folder, folder));
    expect(cycles).toEqual([]);
  });
});
