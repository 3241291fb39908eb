import { toDot, toMermaid } from '../../plan/graph.js';
import { ExitCode, RigError } from '../../errors.js';
import { loadRigFile } from '../../rigfile/load.js';

/** Print the rig's dependency graph (needs) as Graphviz DOT or Mermaid. No engine needed. */
export async function graph(rigFile: string, flags: { format: string }): Promise<void> {
  const spec = loadRigFile(rigFile);
  if (flags.format === 'dot') console.log(toDot(spec.name, spec.nodes));
  else if (flags.format === 'mermaid') console.log(toMermaid(spec.nodes));
  else throw new RigError(`unknown graph format ${flags.format}`, 'use --format dot or --format mermaid', ExitCode.badInput);
}
