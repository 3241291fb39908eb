import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * rig's own files (package.json, bin/, images/, dist/) are found from the package's root, not from a module's own
 * place: the CLI runs from a bundle (dist/bundle/, made by scripts/bundle.mjs), where every module's
 * import.meta.url is that of the chunk it landed in; the library runs from dist/, the tests from src/.
 */
function rootAbove(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, 'package.json'))) return at;
    if (dirname(at) === at) throw new Error(`rig's package.json is not in ${dir} or above it`);
  }
}

const PACKAGE_ROOT = rootAbove(dirname(fileURLToPath(import.meta.url)));

/** A file of rig's package, by its path from the package's root. */
export const packagePath = (...parts: string[]): string => join(PACKAGE_ROOT, ...parts);

/** Set (to true) only in the CLI's bundle, by scripts/bundle.mjs. */
declare const RIG_BUNDLED: boolean | undefined;

/** The script of one of rig's own background processes: the bundle's when rig runs from it, else the compiled one. */
export function ownScript(name: 'keeper' | 'reaper'): string {
  return typeof RIG_BUNDLED === 'undefined' ? packagePath('dist', 'cli', `${name}.js`) : packagePath('dist', 'bundle', `${name}.js`);
}
