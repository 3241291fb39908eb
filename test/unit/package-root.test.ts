import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ownScript, packagePath } from '../../src/package-root.js';

/**
 * The CLI runs from a bundle (scripts/bundle.mjs), where a module's import.meta.url is its chunk's: a file of the
 * package found from a module's own place would be looked for in the wrong folder. Such paths go through
 * src/package-root.ts; createRequire(import.meta.url) stays (it finds packages, from any folder of the package).
 */
const src = resolve(import.meta.dirname, '../../src');
const PLACE_OF_ITS_OWN = /new URL\([^)]*import\.meta\.url|import\.meta\.(dirname|filename)/;

function ownPlaceUses(file: string, text: string): string[] {
  return text.split('\n').flatMap((line, i) => (PLACE_OF_ITS_OWN.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
}

describe("rig's own files", () => {
  it("finds the package's root from the sources as from dist/", () => {
    expect(JSON.parse(readFileSync(packagePath('package.json'), 'utf8')).name).toBe('rig');
    expect(packagePath('bin', 'rig-inventory-gate')).toBe(resolve(src, '..', 'bin', 'rig-inventory-gate'));
  });

  it('starts the compiled keeper and reaper outside the bundle', () => {
    expect(ownScript('keeper')).toBe(resolve(src, '..', 'dist', 'cli', 'keeper.js'));
    expect(ownScript('reaper')).toBe(resolve(src, '..', 'dist', 'cli', 'reaper.js'));
  });

  it("finds a path made from a module's own place, and none in src/ but the root's", () => {
    expect(ownPlaceUses('a.ts', "const f = new URL('../images', import.meta.url);")).toHaveLength(1);
    expect(ownPlaceUses('a.ts', "const f = join(import.meta.dirname, 'x');")).toHaveLength(1);
    expect(ownPlaceUses('a.ts', 'const require = createRequire(import.meta.url);')).toEqual([]);
    const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && f !== 'package-root.ts');
    expect(files.length).toBeGreaterThan(50); // the scan sees the sources
    expect(files.flatMap((f) => ownPlaceUses(f, readFileSync(join(src, f), 'utf8')))).toEqual([]);
  });
});
