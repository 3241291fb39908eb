import { nodeSettingsHash, rigSettingsHash, type Plan } from '../plan/plan.js';
import type { NodeInstance } from '../runtime/backend.js';

/** What differs between a rig file and the rig of that name that is up. */
export interface RigDiff {
  rigChanged: boolean; // domain, network, config trees or production facts: the rig itself
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

export const sameRig = (d: RigDiff) => !d.rigChanged && !d.added.length && !d.removed.length && !d.changed.length;

/** Compare a plan with what runs: node by node by the hash of its settings, and the rig-wide settings. Pure. */
export function diffRig(plan: Plan, running: { settings?: string; nodes: NodeInstance[] }): RigDiff {
  const wanted = new Map(plan.nodes.map((n) => [n.spec.name, nodeSettingsHash(n.spec)]));
  const have = new Map(running.nodes.map((n) => [n.node, n.settings]));
  return {
    rigChanged: running.settings !== rigSettingsHash(plan.spec),
    added: [...wanted.keys()].filter((n) => !have.has(n)),
    removed: [...have.keys()].filter((n) => !wanted.has(n)),
    changed: [...wanted].filter(([n, hash]) => have.has(n) && have.get(n) !== hash).map(([n]) => n),
    unchanged: [...wanted].filter(([n, hash]) => have.get(n) === hash).map(([n]) => n),
  };
}

/** The plan of a reconcile, as lines a person reads before anything is done. */
export function describeDiff(d: RigDiff): string[] {
  return [
    ...(d.rigChanged ? ['~ the rig: domain, network, config trees or production facts changed'] : []),
    ...d.added.map((n) => `+ ${n} (new)`),
    ...d.removed.map((n) => `- ${n} (gone from the rig file)`),
    ...d.changed.map((n) => `~ ${n} (settings changed)`),
    ...(d.unchanged.length ? [`= ${d.unchanged.length} node${d.unchanged.length > 1 ? 's' : ''} unchanged`] : []),
  ];
}
