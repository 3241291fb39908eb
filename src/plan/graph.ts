import type { NodeSpec, Reaction } from '../rigfile/types.js';

const edgeLabel = (fact?: string) => fact ?? 'ready';

/** A node's reactions as edges to the peers they follow: "on change <fact>", "on stage". */
const reactionEdges = (n: NodeSpec) =>
  n.reactions.map((r: Reaction) =>
    'change' in r ? { to: r.change.node, label: `on change ${r.change.fact}` } : { to: r.stage, label: 'on stage' },
  );

/** Graphviz DOT: an edge from each node to what it needs, labelled with the fact (or "ready"); its reactions dashed. */
export function toDot(rig: string, nodes: NodeSpec[]): string {
  const lines = [`digraph "${rig}" {`, '  rankdir=LR;', '  node [shape=box];'];
  for (const n of nodes) lines.push(`  "${n.name}" [label="${n.name}${n.mirrors ? `\\n(${n.mirrors})` : ''}"];`);
  for (const n of nodes) for (const d of n.needs) lines.push(`  "${n.name}" -> "${d.node}" [label="${edgeLabel(d.fact)}"];`);
  for (const n of nodes) for (const e of reactionEdges(n)) lines.push(`  "${n.name}" -> "${e.to}" [label="${e.label}", style=dashed];`);
  return [...lines, '}'].join('\n');
}

/** Mermaid flowchart of the same graph (reactions as dotted links). */
export function toMermaid(nodes: NodeSpec[]): string {
  const id = (name: string) => name.replace(/[^a-zA-Z0-9]/g, '_');
  const lines = ['flowchart LR'];
  for (const n of nodes) lines.push(`  ${id(n.name)}["${n.name}${n.mirrors ? `<br/>(${n.mirrors})` : ''}"]`);
  for (const n of nodes) for (const d of n.needs) lines.push(`  ${id(n.name)} -->|${edgeLabel(d.fact)}| ${id(d.node)}`);
  for (const n of nodes) for (const e of reactionEdges(n)) lines.push(`  ${id(n.name)} -.->|${e.label}| ${id(e.to)}`);
  return lines.join('\n');
}
