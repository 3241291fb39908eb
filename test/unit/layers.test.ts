import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * Imports flow one way: shared modules -> rig file -> plan -> runtime -> engine (with facts and trace) -> the
 * composition root (compose.ts, which alone builds the backends) -> the API -> the CLI. A file may import its own
 * layer or a lower one; folders form no cycle. The engine knows the runtime only by its interfaces.
 */
const src = resolve(import.meta.dirname, '../../src');
const LAYER: Record<string, number> = {
  errors: 0,
  labels: 0,
  printable: 0,
  ipv4: 0,
  duration: 0,
  'package-root': 0, // where the package's own files are (package.json, images/, bin/, dist/)
  kinds: 0, // what each backend declares of itself (runtime/kinds.ts, runtime/kind.ts, runtime/<kind>/kind.ts): data the rig file reads
  rigfile: 1,
  plan: 2,
  runtime: 3,
  ansible: 3, // running ansible-playbook and its inventory, for the engine's ansible steps
  facts: 4,
  engine: 4,
  trace: 4, // rig trace: reads the facts' history (facts) through the engine's way in
  compose: 5, // builds the engine from the backends: the one place above the engine that names them
  api: 6, // rig as a library: the engine's own operations, never the CLI's
  cli: 7,
};

const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
const KIND_DECLARATION = /^runtime\/(?:kinds?|[^/]+\/kind)\.ts$/;
const unitOf = (file: string) => (KIND_DECLARATION.test(file) ? 'kinds' : file.split('/')[0].replace(/\.ts$/, ''));
const imports = files.flatMap((file) =>
  [...readFileSync(join(src, file), 'utf8').matchAll(/^(?:import|export)[^;]*? from '(\.[^']+)'|\bimport\('(\.[^']+)'\)/gm)].map((m) => ({
    from: file,
    to: relative(src, resolve(dirname(join(src, file)), m[1] ?? m[2])).replace(/\.js$/, '.ts'),
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

  it('keeps the engine and the runtime interface free of any one backend', () => {
    // runtime/docker/..., runtime/lxc/...: a backend's own folder (its declaration, kind.ts, is data anyone may read)
    const backendFolder = /^runtime\/[^/]+\/(?!kind\.ts$)/;
    const leaks = imports
      .filter(
        (i) =>
          (i.from.startsWith('engine/') || i.from === 'runtime/runtime.ts' || i.from === 'runtime/backend.ts') && backendFolder.test(i.to),
      )
      .map((i) => `${i.from} -> ${i.to}`);
    expect(leaks).toEqual([]);
    const runtimeTypes = readFileSync(join(src, 'runtime/runtime.ts'), 'utf8') + readFileSync(join(src, 'runtime/backend.ts'), 'utf8');
    expect(runtimeTypes).not.toMatch(/dockerode|from 'lxc/);
  });

  it('keeps the API off the CLI', () => {
    expect(imports.filter((i) => i.from === 'api.ts' && i.to.startsWith('cli/')).map((i) => i.to)).toEqual([]);
  });
});
