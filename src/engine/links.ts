import { accessSync, constants, existsSync, lstatSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExitCode, RigError } from '../errors.js';
import { Label } from '../labels.js';
import type { PlannedLink } from '../plan/plan.js';
import type { Engine } from './context.js';
import { listNodes } from './nodes.js';

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    // nothing there
    return undefined;
  }
}

type Link = Pick<PlannedLink, 'path' | 'target'>;
export const linkKey = (l: Link) => `${l.path}\0${l.target}`;

/**
 * The links each rig lists, by rig: those its `up` made (on its network) and those a reconcile made for one of its
 * nodes (on that node).
 */
export async function rigLinks(engine: Engine, rig?: string): Promise<Map<string, Link[]>> {
  const [networks, nodes] = await Promise.all([engine.rigs.networks(rig), listNodes(engine, rig, { lenient: true })]);
  const rigs = new Set([...networks.map((n) => n.labels[Label.rig]), ...nodes.map((n) => n.rig)]);
  return new Map(
    [...rigs].map((name) => [
      name,
      listedLinks(
        networks.filter((n) => n.labels[Label.rig] === name),
        nodes.filter((n) => n.rig === name),
      ),
    ]),
  );
}

/** The links a rig's networks and nodes list (see rigLinks). */
export function listedLinks(networks: Array<{ labels: Record<string, string> }>, nodes: Array<{ links?: Link[] }>): Link[] {
  return [...networks.flatMap((n) => JSON.parse(n.labels[Label.links] ?? '[]') as Link[]), ...nodes.flatMap((n) => n.links ?? [])];
}

/** The links rigs other than `rig` list (of `byRig`, from rigLinks): rig made them, and they are still in use. */
export const linksOfOthers = (byRig: Map<string, Link[]>, rig: string): Set<string> =>
  new Set([...byRig].filter(([name]) => name !== rig).flatMap(([, links]) => links.map(linkKey)));

export async function linksInUse(engine: Engine, rig: string): Promise<Set<string>> {
  return linksOfOthers(await rigLinks(engine), rig);
}

/**
 * Check every planned link before anything is made: every live file exists, and no link path is taken by
 * something rig would not have made. Returns the links this rig uses: those still to make, and those another
 * rig that is up made (shared: each rig lists them, and the last to go removes them). A link that points where
 * it should but no rig lists is the user's: left alone, never claimed.
 */
export function checkLinks(
  links: PlannedLink[],
  rigFile: string,
  usedByOthers: Set<string>,
): { toMake: PlannedLink[]; shared: PlannedLink[] } {
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
        taken
          .map(
            (l) =>
              `  ${l.path} already exists${lstatOrUndefined(l.path)!.isSymbolicLink() ? ` (a symlink to ${readlinkSync(l.path)})` : ''}`,
          )
          .join('\n'),
      'move those files away, or pick other made-up node names',
      ExitCode.badInput,
    );
  }
  const toMake = links.filter((l) => !lstatOrUndefined(l.path));
  const unwritable = [...new Set(toMake.map((l) => dirname(l.path)))].flatMap((dir) => {
    try {
      accessSync(dir, constants.W_OK);
      return [];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return [
        `  ${dir}: ${code === 'ENOENT' ? 'no such directory' : code === 'EROFS' ? 'on a read-only file system' : `not writable (${code})`}`,
      ];
    }
  });
  if (unwritable.length) {
    throw new RigError(
      `${rigFile}: rig cannot make its symlinks next to the live node configs, so nothing was created:\n${unwritable.join('\n')}`,
      'give a config tree (configs: dir) that rig may write links into, or a writable copy of it',
      ExitCode.badInput,
    );
  }
  return { toMake, shared: links.filter((l) => lstatOrUndefined(l.path) && usedByOthers.has(linkKey(l))) };
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

/** Remove links rig made, and only while they still point where rig made them point and no other rig uses them. */
export function removeLinks(links: Link[], usedByOthers: Set<string>): string[] {
  const removed: string[] = [];
  for (const link of links) {
    if (usedByOthers.has(linkKey(link))) continue;
    const st = lstatOrUndefined(link.path);
    if (st?.isSymbolicLink() && readlinkSync(link.path) === link.target) {
      unlinkSync(link.path);
      removed.push(link.path);
    }
  }
  return removed;
}
