import type { NodeSpec } from '../rigfile/types.js';

/** The first dependency cycle among the nodes' needs, as a path that ends where it starts, or undefined. */
export function findCycle(nodes: Pick<NodeSpec, 'name' | 'needs'>[]): string[] | undefined {
  const needs = new Map(nodes.map((n) => [n.name, [...new Set(n.needs.map((d) => d.node))]]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'visiting') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of needs.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of needs.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

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
