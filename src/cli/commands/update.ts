import { listNodes } from '../../engine/nodes.js';
import { rollingUpdate, type UpdateResult } from '../../engine/update.js';
import { ExitCode, RigError } from '../../errors.js';
import { namesNode } from '../../plan/plan.js';
import { updatesFromHost } from '../../rigfile/steps.js';
import { printable, printableLines } from '../../printable.js';
import { createEngine } from '../engine.js';
import { catchInterrupts, interruptedError } from '../interrupts.js';
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
 * time (default 1), each validated before the next batch (an ansible step runs once per batch, from the host); it
 * stops at the first batch with a failure and says which nodes have the update and which do not. Ctrl-C or SIGTERM stops it too: what runs in the nodes is ended
 * (each command's process group), it says the same, and exits 130.
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
  const interrupts = catchInterrupts();
  try {
    await updateRig(names, flags, batch, interrupts.signal);
  } finally {
    interrupts.release();
  }
}

async function updateRig(names: string[], flags: UpdateFlags, batch: number, signal: AbortSignal): Promise<void> {
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

  const playbooksDir = chosen.some((n) => updatesFromHost(n.update))
    ? await (await import('../../engine/update-playbooks.js')).updatePlaybooksDir(engine, rig, chosen)
    : undefined;
  if (signal.aborted) throw interruptedError('no node was updated');
  const { results, notRun } = await rollingUpdate(
    engine,
    chosen,
    batch,
    (r) => {
      if (!flags.json) console.log(`${r.fqdn}  ${resultLine(r)}`);
    },
    signal,
    playbooksDir,
  );
  const updated = results.filter((r) => r.updated).map((r) => r.fqdn);
  const notUpdated = [...results.filter((r) => !r.updated).map((r) => r.fqdn), ...notRun];
  const interrupted = results.filter((r) => r.interrupted).map((r) => r.fqdn);
  if (flags.json) console.log(JSON.stringify({ results, updated, notUpdated, ...(signal.aborted ? { interrupted: true } : {}) }, null, 2));
  else {
    for (const r of results.filter((x) => !x.updated))
      console.log(`\n${r.fqdn}: ${printable(r.failure ?? '')}:\n${printableLines(r.output.trimEnd())}`);
    console.log(`\nupdated: ${updated.join(', ') || 'none'}`);
    const why = signal.aborted ? 'the update was interrupted' : 'the update stopped at the first failure';
    const notes = [
      ...(interrupted.length
        ? [`${interrupted.join(', ')} interrupted: what ran in ${interrupted.length > 1 ? 'them' : 'it'} was ended`]
        : []),
      ...(notRun.length ? [`${notRun.join(', ')} not run: ${why}`] : []),
    ];
    console.log(`not updated: ${notUpdated.join(', ') || 'none'}${notes.length ? ` (${notes.join('; ')})` : ''}`);
  }
  if (signal.aborted)
    throw interruptedError(
      interrupted.length ? `the update commands under way were ended in ${interrupted.join(', ')}` : 'no update was under way',
    );
  process.exitCode = notUpdated.length ? ExitCode.failed : ExitCode.ok;
}

/** A node's line as its update ends: updated, FAILED or INTERRUPTED, and how. */
function resultLine(r: UpdateResult): string {
  if (r.updated) return `updated in ${r.seconds.toFixed(1)} s, validate ${r.checks.length}/${r.checks.length} passed`;
  return `${r.interrupted ? 'INTERRUPTED' : 'FAILED'}: ${printable(r.failure ?? '')}`;
}

function throwNoSuchNode(name: string, rig: string, all: Array<{ rig: string; node: string }>): never {
  throw noSuchNode(name, rig, all);
}
