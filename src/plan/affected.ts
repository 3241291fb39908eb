import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Plan } from './plan.js';

/** What a changed file means for a rig that is up: the rig file itself, or nodes to provision again (and why). */
export type Affected = { kind: 'rigfile' } | { kind: 'nodes'; nodes: string[]; why: string };

const isUnder = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * The nodes a change to `path` (absolute) affects, for watch mode: a live node's config file (or per-node
 * directory) -> the nodes mirroring it; any other file of a config tree that names a live node nobody mirrors ->
 * none; a file a node's steps use (a script, a manifest, a module path, a Hiera config's directory) -> those
 * nodes; a playbook only update: runs -> none; anything else under the rig file's directory -> all nodes. Pure: no I/O.
 */
export function affectedBy(plan: Plan, path: string): Affected {
  const changed = resolve(path);
  if (changed === plan.spec.file) return { kind: 'rigfile' };
  const all = plan.nodes.map((n) => n.spec.name);

  // A link's target is the live node's config (a file, or a per-node directory): `live` is the file in it.
  const mirroring = plan.links.filter((l) => isUnder(changed, resolve(dirname(l.path), l.target)) || isUnder(changed, l.path));
  if (mirroring.length) {
    const nodes = [...new Set(mirroring.map((l) => l.node))];
    return {
      kind: 'nodes',
      nodes: all.filter((n) => nodes.includes(n)),
      why: `config of ${[...new Set(mirroring.map((l) => l.mirrors))].join(', ')}`,
    };
  }
  for (const tree of plan.spec.configs) {
    if (!isUnder(changed, tree.dir)) continue;
    const live = liveNameOf(relative(tree.dir, changed), tree.file);
    if (live) return { kind: 'nodes', nodes: [], why: `config of ${live}, which no node mirrors` };
  }

  const users = plan.nodes.filter((n) => stepPaths(n.spec.provision).some((p) => isUnder(changed, p)));
  if (users.length) return { kind: 'nodes', nodes: users.map((n) => n.spec.name), why: 'used by their steps' };
  // A playbook only rig update runs changes nothing that runs now: the next rig update reads it.
  const update = plan.nodes.some((n) => n.spec.update.some((u) => typeof u !== 'string' && resolve(plan.spec.dir, u.ansible) === changed));
  if (update) return { kind: 'nodes', nodes: [], why: 'a playbook of update: (rig update runs it)' };
  return { kind: 'nodes', nodes: all, why: 'a file of the rig: all nodes' };
}

/** The live node name a path in a config tree stands for, by the tree's template (`{node}.yaml`, `{node}/main.yml`). */
function liveNameOf(relativePath: string, template: string): string | undefined {
  const parts = template.split('/');
  const at = parts.findIndex((p) => p.includes('{node}'));
  const segment = relativePath.split(sep)[at];
  if (segment === undefined || relativePath.split(sep).length < at + 1) return undefined;
  const [before, after] = parts[at].split('{node}');
  if (!segment.startsWith(before) || !segment.endsWith(after) || segment.length <= before.length + after.length) return undefined;
  if (
    !relativePath
      .split(sep)
      .slice(0, at)
      .every((p, i) => p === parts[i])
  )
    return undefined;
  return segment.slice(before.length, segment.length - after.length);
}

/** The files and directories a node's steps read: what a change there re-runs. */
function stepPaths(steps: Plan['nodes'][number]['spec']['provision']): string[] {
  return steps.flatMap((s) => {
    if (s.kind === 'script') return [s.path];
    // A playbook reads its roles and group_vars beside it; host_vars are the live nodes' config (mapped by tree).
    if (s.kind === 'ansible') return [s.playbook, join(dirname(s.playbook), 'roles'), join(dirname(s.playbook), 'group_vars')];
    if (s.kind === 'puppet') {
      return [s.manifest, ...(s.modulepath ? [s.modulepath] : []), ...(s.hieraConfig ? [dirname(s.hieraConfig)] : [])];
    }
    return [];
  });
}
