import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Checker } from './checker.js';
import type { PathSeg } from './positions.js';
import { BUILD_HINT } from './schema-parts.js';
import { contextHash, rigBases } from './build-context.js';
import type { BuildSpec } from './types.js';

export type RawBuild = string | { context?: string; dockerfile?: string; args?: Record<string, unknown> };

const inside = (dir: string, file: string) => {
  const rel = path.relative(dir, file);
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
};

/**
 * build: as the schema let it through -> a BuildSpec: the context a directory (relative to the rig file; it may lie
 * outside the rig file's directory, as only the Docker engine reads it), the Dockerfile a file inside it, and a hash
 * of all that the build would be sent.
 */
export function checkBuild(c: Checker, raw: RawBuild | undefined, p: PathSeg[], rigDir: string): BuildSpec | undefined {
  if (raw === undefined) return undefined;
  const long = typeof raw === 'object';
  const written = long ? raw.context : raw;
  if (written === undefined) return undefined; // the schema pass reported it
  const contextPath = long ? [...p, 'context'] : p;
  const context = path.resolve(rigDir, written);
  const stat = fs.statSync(context, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) {
    const what = stat ? 'is not a directory' : 'does not exist';
    c.report(
      contextPath,
      `build context ${written} ${what} (looked for ${context})`,
      `fix the path; it is relative to the rig file (${BUILD_HINT})`,
      'value',
    );
    return undefined;
  }
  const dockerfile = path.resolve(context, (long && raw.dockerfile) || 'Dockerfile');
  const dockerfilePath = long && raw.dockerfile ? [...p, 'dockerfile'] : contextPath;
  if (!inside(context, dockerfile)) {
    c.report(
      dockerfilePath,
      `the Dockerfile ${dockerfile} is outside the build context ${context}`,
      'keep the Dockerfile in the context directory',
      'value',
    );
    return undefined;
  }
  if (!fs.statSync(dockerfile, { throwIfNoEntry: false })?.isFile()) {
    const hint =
      long && raw.dockerfile
        ? 'fix the name; it is relative to the context'
        : 'add a Dockerfile there, or name yours with build: { context: ..., dockerfile: NAME }';
    c.report(
      dockerfilePath,
      `no Dockerfile ${path.relative(context, dockerfile)} in the build context ${written} (looked for ${dockerfile})`,
      hint,
      'value',
    );
    return undefined;
  }
  const args = Object.fromEntries(
    Object.entries((long && raw.args) || {})
      .filter((e) => e[1] !== undefined) // the schema pass reported it
      .map(([k, v]) => [k, String(v)]),
  );
  const rel = path.relative(context, dockerfile).split(path.sep).join('/');
  try {
    return {
      context,
      dockerfile: rel,
      args,
      bases: rigBases(fs.readFileSync(dockerfile, 'utf8')),
      hash: contextHash(context, rel, args),
      line: c.line(p),
    };
  } catch (err) {
    c.report(
      contextPath,
      `cannot read the build context ${written}: ${errorMessage(err)}`,
      'make its files readable, or leave the unreadable ones out with a .dockerignore',
      'value',
    );
    return undefined;
  }
}
