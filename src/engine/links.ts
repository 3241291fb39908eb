import { existsSync, lstatSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { ExitCode, RigError } from '../errors.js';
import type { PlannedLink } from '../plan/plan.js';

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Check every planned link before anything is made: every live file exists, and no link path is taken by
 * something rig would not have made. Returns the links still to make.
 */
export function checkLinks(links: PlannedLink[], rigFile: string): PlannedLink[] {
  const missing = links.filter((l) => !existsSync(l.live));
  if (missing.length) {
    throw new RigError(
      `${rigFile}: ${missing.length} live node config${missing.length > 1 ? 's are' : ' is'} missing, so nothing was created:\n` +
        missing.map((l) => `  ${l.live} (mirrored by ${l.node})`).join('\n'),
      'fix the mirrored node names in the rig file, or the configs dirs, so each live node has its file',
      ExitCode.badInput,
    );
  }
  const taken = links.filter((l) => {
    const st = lstatOrUndefined(l.path);
    return st && !(st.isSymbolicLink() && readlinkSync(l.path) === l.target);
  });
  if (taken.length) {
    throw new RigError(
      `${rigFile}: rig will not overwrite ${taken.length === 1 ? 'a file' : `${taken.length} files`} it did not make, so nothing was created:\n` +
        taken.map((l) => `  ${l.path} already exists${lstatOrUndefined(l.path)!.isSymbolicLink() ? ` (a symlink to ${readlinkSync(l.path)})` : ''}`).join('\n'),
      'move those files away, or pick other made-up node names',
      ExitCode.badInput,
    );
  }
  return links.filter((l) => !lstatOrUndefined(l.path));
}

/** Make the links; returns those it made (a link already pointing where it should is left, not claimed). */
export function makeLinks(links: PlannedLink[]): PlannedLink[] {
  const made: PlannedLink[] = [];
  for (const link of links) {
    if (lstatOrUndefined(link.path)) continue;
    symlinkSync(link.target, link.path);
    made.push(link);
  }
  return made;
}

/** Remove links rig made, and only while they still point where rig made them point. */
export function removeLinks(links: Array<Pick<PlannedLink, 'path' | 'target'>>): string[] {
  const removed: string[] = [];
  for (const link of links) {
    const st = lstatOrUndefined(link.path);
    if (st?.isSymbolicLink() && readlinkSync(link.path) === link.target) {
      unlinkSync(link.path);
      removed.push(link.path);
    }
  }
  return removed;
}
