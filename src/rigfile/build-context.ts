import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A build context (build: in the rig file) as the Docker engine gets it: its files less what .dockerignore leaves
 * out, with their modes. What load.ts hashes and what the Docker backend sends are the same list.
 */
export interface ContextEntry {
  path: string; // relative to the context, with / separators
  type: 'file' | 'directory' | 'symlink';
  mode: number; // permission bits
  target?: string; // a symlink's
}

/** A .dockerignore line as Docker reads it: the last pattern that matches a path (or one of its parents) decides. */
interface IgnorePattern {
  regex: RegExp;
  exclude: boolean; // false: a !pattern, which takes a path back
}

function globRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*' && pattern[i + 1] === '*') {
      // `**/` any number of directories, `**` at the end: anything
      out += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${pattern
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '\\' && i + 1 < pattern.length) out += `\\${pattern[++i]}`;
    else out += ch.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export function parseDockerignore(text: string): IgnorePattern[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const exclude = !line.startsWith('!');
      const cleaned = path.posix.normalize((exclude ? line : line.slice(1)).trim()).replace(/^\/+|\/+$/g, '');
      return { regex: globRegex(cleaned), exclude };
    })
    .filter((p) => p.regex.source !== '^.$'); // "." or "/" alone: Docker ignores such a line too
}

export function ignored(patterns: IgnorePattern[], rel: string): boolean {
  const parents = rel.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let out = false;
  for (const p of patterns) if (parents.some((q) => p.regex.test(q))) out = p.exclude;
  return out;
}

/** The context's entries, sorted, .dockerignore applied; the Dockerfile is always in (Docker sends it whatever). */
export function contextEntries(context: string, dockerfile: string): ContextEntry[] {
  const ignoreFile = path.join(context, '.dockerignore');
  const patterns = fs.existsSync(ignoreFile) ? parseDockerignore(fs.readFileSync(ignoreFile, 'utf8')) : [];
  const out: ContextEntry[] = [];
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(path.join(context, dir)).sort()) {
      const rel = dir ? `${dir}/${name}` : name;
      const stat = fs.lstatSync(path.join(context, rel));
      const kept = rel === dockerfile || !ignored(patterns, rel);
      const mode = stat.mode & 0o7777;
      if (stat.isDirectory()) {
        // An ignored directory is still walked when a !pattern may take something under it back.
        if (kept) out.push({ path: rel, type: 'directory', mode });
        if (kept || patterns.some((p) => !p.exclude) || dockerfile.startsWith(`${rel}/`)) walk(rel);
      } else if (!kept) continue;
      else if (stat.isSymbolicLink()) out.push({ path: rel, type: 'symlink', mode, target: fs.readlinkSync(path.join(context, rel)) });
      else if (stat.isFile()) out.push({ path: rel, type: 'file', mode });
      // sockets, fifos and devices: Docker sends none either
    }
  };
  walk('');
  return out;
}

/** rig's own images named by FROM lines (`FROM rig:base`, `FROM rig:systemd AS b`), each with its line. */
export function rigBases(dockerfile: string): Array<{ name: string; line: number }> {
  return dockerfile.split('\n').flatMap((text, i) => {
    const m = FROM_RIG.exec(text);
    return m ? [{ name: m[2], line: i + 1 }] : [];
  });
}

const FROM_RIG = /^(\s*FROM\s+(?:--platform=\S+\s+)?)rig:([A-Za-z0-9_.-]+)(?=\s|$)/i;

/** The Dockerfile with each FROM rig:NAME replaced by the tag `ref` gives for NAME. */
export const resolveBases = (dockerfile: string, ref: (name: string) => string): string =>
  dockerfile
    .split('\n')
    .map((text) => text.replace(FROM_RIG, (_, from: string, name: string) => `${from}${ref(name)}`))
    .join('\n');

/** A hash of what a build sends: every entry (path, type, mode, content or target), the Dockerfile's name and the args. */
export function contextHash(context: string, dockerfile: string, args: Record<string, string>): string {
  const h = createHash('sha256');
  h.update(`dockerfile\0${dockerfile}\0`);
  for (const k of Object.keys(args).sort()) h.update(`arg\0${k}\0${args[k]}\0`);
  for (const e of contextEntries(context, dockerfile)) {
    h.update(`${e.type}\0${e.path}\0${e.mode.toString(8)}\0`);
    if (e.type === 'file') h.update(fs.readFileSync(path.join(context, e.path)));
    else if (e.target !== undefined) h.update(e.target);
    h.update('\0');
  }
  return h.digest('hex');
}
