import type { NodeSpec } from '../rigfile/types.js';

const edgeLabel = (fact?: string) => fact ?? 'ready';

/** Graphviz DOT: an edge from each node to what it needs, labelled with the fact (or "ready"). */
export function toDot(rig: string, nodes: NodeSpec[]): string {
  const lines = [`digraph "${rig}" {`, '  rankdir=LR;', '  node [shape=box];'];
  for (const n of nodes) lines.push(`  "${n.name}" [label="${n.name}${n.mirrors ? `\\n(${n.mirrors})` : ''}"];`);
  for (const n of nodes) for (const d of n.needs) lines.push(`  "${n.name}" -> "${d.node}" [label="${edgeLabel(d.fact)}"];`);
  return [...lines, '}'].join('\n');
}

/** Mermaid flowchart of the same graph. */
export function toMermaid(nodes: NodeSpec[]): string {
  const id = (name: string) => name.replace(/[^a-zA-Z0-9]/g, '_');
  const lines = ['flowchart LR'];
  for (const n of nodes) lines.push(`  ${id(n.name)}["${n.name}${n.mirrors ? `<br/>(${n.mirrors})` : ''}"]`);
  for (const n of nodes) for (const d of n.needs) lines.push(`  ${id(n.name)} -->|${edgeLabel(d.fact)}| ${id(d.node)}`);
  return lines.join('\n');
}
