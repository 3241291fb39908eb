import fs from 'node:fs';
import path from 'node:path';
import { Checker } from './checker.js';
import { type PathSeg } from './positions.js';
import { DEFAULT_FILE } from './schema-parts.js';
import { type RawConfig } from './schema.js';
import type { ConfigTree } from './types.js';

/** The rig file's config trees: where they are, and that rig links only inside the rig file's repository. */

/** Config trees: rig makes its links only inside the rig file's repository, unless outside_repo: true. */
export function checkConfigs(c: Checker, entries: (RawConfig | undefined)[], rigDir: string): ConfigTree[] {
  const configs: ConfigTree[] = [];
  entries.forEach((entry, i) => {
    if (entry?.dir === undefined) return; // the schema pass reported it
    const p = ['configs', i];
    const { dir, file = DEFAULT_FILE.config, outside_repo: outsideRepo = false } = entry;
    // rig makes its links in dir, or in the directory part of file under it ("sub/{node}.yaml": dir/sub).
    const parts = file.split('/');
    const sub = parts
      .slice(
        0,
        parts.findIndex((part) => part.includes('{node}')),
      )
      .join('/');
    const confined = (key: string, where: string) => outsideRepo || checkInsideRepo(c, [...p, key], where, rigDir);
    if (!confined('dir', dir) || (sub && !confined('file', path.join(dir, sub)))) return;
    if (sub && isDirectory(path.resolve(rigDir, dir)) && !isDirectory(path.resolve(rigDir, dir, sub))) {
      const hint = 'make that directory, or fix file: so that its directory part exists under dir';
      const message = `there is no directory ${path.join(dir, sub)}, where rig would make the links of "${file}"`;
      return c.report([...p, 'file'], message, hint, 'value');
    }
    configs.push({ dir: path.resolve(rigDir, dir), file });
  });
  return configs;
}

/** The repository the rig file is in: the nearest directory above it with a .git, else the rig file's directory. */
function repositoryOf(rigDir: string): string {
  const start = fs.existsSync(rigDir) ? fs.realpathSync(rigDir) : rigDir;
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

/**
 * rig makes symlinks in a config dir, as root: only inside the rig file's repository, symlinks resolved, unless
 * the rig file says outside_repo: true (a rig file must not point rig at /etc).
 */
function checkInsideRepo(c: Checker, p: PathSeg[], dir: string, rigDir: string): boolean {
  const full = path.resolve(rigDir, dir);
  const real = realpathOfNearest(full);
  const repo = repositoryOf(rigDir);
  const rel = path.relative(repo, real);
  if (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)) return true;
  const via = real === full ? '' : ` (it is a link to ${real})`;
  c.report(
    p,
    `${dir} is outside the rig file's repository, ${repo}${via}: rig makes links in it, as root`,
    'move the config tree into the repository, or add outside_repo: true to this entry if rig may write there',
    'value',
  );
  return false;
}

/** A path with its symlinks resolved as far as it exists (a link to /etc, then a name under it not made yet, is under /etc). */
function realpathOfNearest(full: string): string {
  if (fs.existsSync(full)) return fs.realpathSync(full);
  const parent = path.dirname(full);
  return parent === full ? full : path.join(realpathOfNearest(parent), path.basename(full));
}

const isDirectory = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

export function defaultConfigs(rigDir: string): ConfigTree[] {
  const dir = path.join(rigDir, 'hieradata', 'nodes');
  return fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() ? [{ dir, file: DEFAULT_FILE.config }] : [];
}
