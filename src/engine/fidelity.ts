import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RigSpec } from '../rigfile/types.js';

/** One live host name found in the config trees: where, and which rig nodes answer for it (none: NXDOMAIN). */
export interface LiveName {
  name: string;
  mirroredBy: string[];
  forwarded: boolean; // listed in network.forward: looked up upstream
  places: string[]; // file:line, relative to the rig file's directory
}

const MAX_FILE_BYTES = 1024 * 1024; // config data, not archives: larger files are skipped
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The live domains of a rig: those of the live nodes it mirrors. */
const liveDomains = (spec: RigSpec) =>
  [...new Set(spec.nodes.flatMap((n) => (n.mirrors?.includes('.') ? [n.mirrors.slice(n.mirrors.indexOf('.') + 1)] : [])))].filter(
    (d) => d !== spec.domain,
  );

/**
 * Every host name under a live domain that the rig's config trees name (the mirrored nodes' own files and every
 * other file in the trees), each with the rig nodes that mirror it. A name no node mirrors will not resolve in the
 * rig: production code that uses it will not find its peer there.
 */
export function liveNamesInConfigs(spec: RigSpec): LiveName[] {
  const domains = liveDomains(spec);
  if (!domains.length) return [];
  const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
  const pattern = new RegExp(`(?<![a-z0-9.-])((?:${label}\\.)+(?:${domains.map(escape).join('|')}))(?![a-z0-9-]|\\.[a-z0-9])`, 'gi');
  const found = new Map<string, LiveName>();
  for (const tree of spec.configs) {
    for (const file of filesUnder(tree.dir)) {
      const text = readText(file);
      if (text === undefined) continue;
      text.split('\n').forEach((line, i) => {
        for (const match of line.matchAll(pattern)) {
          const name = match[1].toLowerCase();
          const entry = found.get(name) ?? {
            name,
            mirroredBy: spec.nodes.filter((n) => n.mirrors === name).map((n) => n.name),
            forwarded: spec.network.forward.some((f) => name === f || name.endsWith(`.${f}`)),
            places: [],
          };
          entry.places.push(`${relative(spec.dir, file)}:${i + 1}`);
          found.set(name, entry);
        }
      });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Regular files below dir; symlinks are skipped (rig's own links point at files that are read anyway). */
function filesUnder(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    // not there, or not readable: it names no live host
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

function readText(file: string): string | undefined {
  try {
    if (lstatSync(file).size > MAX_FILE_BYTES) return undefined;
    const text = readFileSync(file, 'utf8');
    return text.includes('\0') ? undefined : text;
  } catch {
    // gone since it was listed, or not readable: nothing to read in it
    return undefined;
  }
}

export const notInRig = (n: LiveName) => !n.mirroredBy.length && !n.forwarded;

export const places = (n: LiveName) =>
  n.places.length > 3 ? `${n.places.slice(0, 3).join(', ')} and ${n.places.length - 3} more` : n.places.join(', ');

/** What `up` says of the live names no node answers for: a warning, and up goes on. */
export function unmappedWarnings(names: LiveName[]): string[] {
  return names
    .filter(notInRig)
    .map((n) => `${n.name} (named in ${places(n)}) is not in the rig: it will not resolve there (rig check shows them all)`);
}
