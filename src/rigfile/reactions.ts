import type { Checker } from './checker.js';
import type { PathSeg } from './positions.js';
import { FACT_NAME } from './schema-parts.js';
import { type RawReaction } from './schema.js';
import { buildSteps } from './steps.js';
import type { NodeSpec, Reaction } from './types.js';

/** A node's on: as written, with where it is (its own, or the rig-wide one it takes). */
export interface RawReactions {
  list: (RawReaction | undefined)[];
  path: PathSeg[];
  own: boolean;
}

/**
 * Resolve each node's reactions to nodes (and facts) of the rig: an unknown node, a change: without a fact, a
 * node reacting to its own stage are problems at their place in the file. A rig-wide reaction is left out of the
 * node it names (a node does not react to itself by default).
 */
export function checkReactions(c: Checker, nodes: NodeSpec[], raw: Map<NodeSpec, RawReactions>, domain: string, rigDir: string): void {
  const byName = new Map<string, NodeSpec>();
  for (const n of nodes) byName.set(n.name, n).set(n.shortName, n);
  const find = (name: string) => byName.get(name) ?? byName.get(`${name}.${domain}`);
  const shortNames = nodes.map((n) => n.shortName).join(', ');
  // The rig-wide on: is checked once, not once per node that takes it.
  const reported = new Set<string>();
  const report = (p: PathSeg[], message: string, hint: string) => {
    const key = JSON.stringify(p);
    if (!reported.has(key)) c.report(p, message, hint, 'value');
    reported.add(key);
  };
  for (const node of nodes) {
    const { list, path, own } = raw.get(node) ?? { list: [], path: [], own: true };
    list.forEach((reaction, i) => {
      if (!reaction || reaction.run === undefined) return; // the schema pass reported it
      const p = [...path, i];
      const run = reaction.run === 'provision' ? 'provision' : buildSteps(c, reaction.run, [...p, 'run'], rigDir);
      // A reaction runs in the node, whenever a peer's fact changes: no rig command on the host may be there for it.
      if (run === 'provision' ? node.provision.some((s) => s.kind === 'ansible') : run.some((s) => s.kind === 'ansible')) {
        report(
          [...p, 'run'],
          `a reaction cannot run an ansible step${run === 'provision' ? ` (${node.shortName}'s provision: has one)` : ''}: Ansible runs from the host, and a reaction runs in the node while no rig command may be running`,
          "react with shell: or script: steps (rig-fact, the node's own tools), and re-run the playbook with rig provision",
        );
        return;
      }
      if (reaction.change !== undefined) {
        const text = reaction.change;
        const dot = text.lastIndexOf('.');
        const target = dot > 0 ? find(text.slice(0, dot)) : undefined;
        const fact = text.slice(dot + 1);
        if (find(text)) report([...p, 'change'], `"${text}" names no fact: change: takes node.fact`, `e.g. change: ${text}.redis_run_id`);
        else if (!target)
          report(
            [...p, 'change'],
            `"${text}" names no node.fact of this rig`,
            `write node.fact, e.g. barn.redis_run_id; nodes: ${shortNames}`,
          );
        else if (!FACT_NAME.test(fact))
          report([...p, 'change'], `"${fact}" is not a valid fact name`, 'write node.fact, e.g. barn.redis_run_id');
        else if (own || target !== node) node.reactions.push({ change: { node: target.name, fact }, run });
      } else if (reaction.stage !== undefined) {
        const target = find(reaction.stage);
        if (!target) report([...p, 'stage'], `"${reaction.stage}" names no node of this rig`, `use a node name; nodes: ${shortNames}`);
        else if (target === node && own) report([...p, 'stage'], 'a node cannot react to its own stage', 'name a peer, or remove it');
        else if (target !== node) node.reactions.push({ stage: target.name, run });
      }
    });
  }
}

/** What a reaction follows, as its agent's stage names it: barn.redis_run_id, barn.stage. */
export const reactionLabel = (r: Reaction): string =>
  'change' in r ? `${r.change.node.split('.')[0]}.${r.change.fact}` : `${r.stage.split('.')[0]}.stage`;
