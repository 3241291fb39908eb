import { createHash } from 'node:crypto';

/**
 * Which cluster member each LXD node of a rig goes on: a node with a `target:` where it says; the others spread over
 * the online members, each to the member with the fewest rig instances so far (those already there, of any rig, and
 * those this placement put there), a tie going to the member first in this rig's own order of the members (by a
 * hash of the rig's and the member's names). The same rig on the same cluster with the same load is placed the same
 * way every time; two rigs on an empty cluster do not both start on the same member. Pure: LXD is asked by the caller.
 */

export interface MemberLoad {
  name: string;
  online: boolean;
  rigInstances: number; // instances carrying rig's marks on it now
}

/** node (its full name) -> member; nodes are given with their `target:` if they have one. */
export function placeNodes(rig: string, nodes: Array<{ name: string; target?: string }>, members: MemberLoad[]): Map<string, string> {
  const placed = new Map<string, string>();
  const load = new Map(members.filter((m) => m.online).map((m) => [m.name, m.rigInstances]));
  for (const node of nodes) {
    if (node.target === undefined) continue;
    placed.set(node.name, node.target);
    if (load.has(node.target)) load.set(node.target, load.get(node.target)! + 1);
  }
  const order = [...load.keys()].map((name) => ({ name, rank: rankOf(rig, name) })).sort((a, b) => a.rank.localeCompare(b.rank));
  const free = nodes.filter((n) => n.target === undefined).sort((a, b) => a.name.localeCompare(b.name));
  for (const node of free) {
    let best: string | undefined;
    for (const { name } of order) if (best === undefined || load.get(name)! < load.get(best)!) best = name;
    if (best === undefined) break; // no member online: the caller refuses that before placing
    placed.set(node.name, best);
    load.set(best, load.get(best)! + 1);
  }
  return placed;
}

const rankOf = (rig: string, member: string) => createHash('sha256').update(`${rig}/${member}`).digest('hex');
