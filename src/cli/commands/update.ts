import { listNodes } from '../../engine/nodes.js';
import { rollingUpdate } from '../../engine/update.js';
import { ExitCode, RigError } from '../../errors.js';
import { namesNode } from '../../plan/plan.js';
import { printable, printableLines } from '../../printable.js';
import { createEngine } from '../engine.js';
import { whichRig } from '../which-rig.js';
import { mirroring, noSuchNode } from './node.js';

export interface UpdateFlags {
  name?: string;
  mirrors?: string;
  batch?: string;
  json?: boolean;
}

/**
 * rig update [NODE... | --mirrors LIVE] [--batch N]: a rolling update of the nodes that declare `update:`, N at a
 * time (default 1), each validated before the next batch; it stops at the first batch with a failure and says
 * which nodes have the update and which do not.
 */
export async function update(names: string[], flags: UpdateFlags): Promise<void> {
  const batch = Number(flags.batch ?? 1);
  if (!Number.isInteger(batch) || batch < 1)
    throw new RigError(
      `--batch ${JSON.stringify(flags.batch)} is not a number of nodes.`,
      'give a whole number of at least 1, e.g. --batch 2',
      ExitCode.badInput,
    );
  if (names.length && flags.mirrors)
    throw new RigError(
      'Name the nodes, or --mirrors LIVE, not both.',
      'rig update barn mill, or rig update --mirrors straleb.prod.example',
      ExitCode.badInput,
    );
  const engine = await createEngine();
  const rig = await whichRig(engine, flags.name);
  const all = await listNodes(engine, rig);
  if (!all.length) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig ls', ExitCode.badInput);
  let chosen = names.length ? names.map((n) => all.find((i) => namesNode(n, i.node)) ?? throwNoSuchNode(n, rig, all)) : all;
  if (flags.mirrors) chosen = mirroring(all, flags.mirrors, rig);
  const without = chosen.filter((n) => !n.update?.length);
  if (names.length && without.length)
    throw new RigError(
      `${without.map((n) => n.node).join(', ')} ${without.length > 1 ? 'declare' : 'declares'} no update: commands.`,
      'add update: to the node (or rig-wide) in the rig file; it is recorded on the node when it is made',
      ExitCode.badInput,
    );
  chosen = [...new Set(chosen)].filter((n) => n.update?.length);
  if (!chosen.length)
    throw new RigError(
      `No node of rig ${rig} declares update: commands.`,
      'add update: to nodes (or rig-wide) in the rig file, then bring the rig up anew',
      ExitCode.badInput,
    );

  const { results, notRun } = await rollingUpdate(engine, chosen, batch, (r) => {
    if (!flags.json)
      console.log(
        `${r.node}  ${r.updated ? `updated in ${r.seconds.toFixed(1)} s, validate ${r.checks.length}/${r.checks.length} passed` : `FAILED: ${printable(r.failure ?? '')}`}`,
      );
  });
  const updated = results.filter((r) => r.updated).map((r) => r.node);
  const notUpdated = [...results.filter((r) => !r.updated).map((r) => r.node), ...notRun];
  if (flags.json) console.log(JSON.stringify({ results, updated, notUpdated }, null, 2));
  else {
    for (const r of results.filter((x) => !x.updated))
      console.log(`\n${r.node}: ${printable(r.failure ?? '')}:\n${printableLines(r.output.trimEnd())}`);
    console.log(`\nupdated: ${updated.join(', ') || 'none'}`);
    console.log(
      `not updated: ${notUpdated.join(', ') || 'none'}${notRun.length ? ` (${notRun.join(', ')} not run: the update stopped at the first failure)` : ''}`,
    );
  }
  process.exitCode = notUpdated.length ? ExitCode.failed : ExitCode.ok;
}

function throwNoSuchNode(name: string, rig: string, all: Array<{ rig: string; node: string }>): never {
  throw noSuchNode(name, rig, all);
}
