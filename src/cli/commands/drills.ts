import { powerDrill } from '../../engine/drills.js';
import { whichNodes } from '../which-rig.js';
import { heal as healLinks, netem as impairLink, parseDelay, parseLoss, partition as cutLinks } from '../../engine/link-drills.js';
import { ExitCode, RigError } from '../../errors.js';
import type { PowerAction } from '../../runtime/backend.js';
import { createEngine, settings } from '../engine.js';
import { catchInterrupts, interruptedError } from '../interrupts.js';
import { note } from '../output.js';
import { cliReporter, outputMode } from '../progress.js';
import { parseDuration } from '../../duration.js';

interface DrillFlags {
  name?: string;
}

const rigOf = (flags: DrillFlags) => flags.name ?? settings().rigName;

const DONE: Record<PowerAction, string> = {
  stop: 'stopped',
  start: 'started and ready',
  kill: 'killed',
  pause: 'paused',
  unpause: 'running again',
};

/** rig stop|start|kill|pause|unpause NODE. */
export async function power(action: PowerAction, name: string, flags: DrillFlags & { timeout?: string }): Promise<void> {
  const timeoutMs = parseDuration(flags.timeout ?? '5m', '--timeout');
  const engine = await createEngine();
  const { nodes } = await whichNodes(engine, [name], rigOf(flags));
  const [node] = nodes;
  const interrupts = catchInterrupts();
  try {
    const done = await powerDrill(engine, node, action, { timeoutMs, signal: interrupts.signal });
    note(done === 'already' ? `${node.node} is ${DONE[action].split(' ')[0]} already: nothing done` : `${node.node} ${DONE[action]}`);
  } catch (err) {
    if (interrupts.signal.aborted) throw interruptedError(`${node.node} goes on starting; see it with: rig status --name ${node.rig}`);
    throw err;
  } finally {
    interrupts.release();
  }
}

/** rig replace NODE [--new-address]. */
export async function replace(name: string, flags: DrillFlags & { newAddress?: boolean; timeout?: string; json?: boolean }): Promise<void> {
  const timeoutMs = parseDuration(flags.timeout ?? '5m', '--timeout');
  const engine = await createEngine();
  const { nodes } = await whichNodes(engine, [name], rigOf(flags));
  const { replaceNode } = await import('../../engine/replace.js');
  const { before, after } = await replaceNode(
    engine,
    nodes[0],
    { newAddress: !!flags.newAddress, timeoutMs },
    cliReporter(outputMode(!!flags.json)),
  );
  if (flags.json) console.log(JSON.stringify({ fqdn: nodes[0].node, ip: after, previousIp: before }));
  else note(`${nodes[0].node} replaced: ready at ${after}${before && before !== after ? ` (was ${before})` : ''}`);
}

/**
 * A short drill (one nftables transaction, then its event) finishes when Ctrl-C comes, so that what is cut is
 * recorded; a second Ctrl-C leaves at once.
 */
async function whole<T>(work: () => Promise<T>): Promise<T> {
  const interrupts = catchInterrupts();
  try {
    return await work();
  } finally {
    interrupts.release();
  }
}

/** rig partition A B [C...]. */
export async function partition(names: string[], flags: DrillFlags): Promise<void> {
  if (names.length < 2) throw new RigError('A partition needs at least two nodes.', 'e.g. rig partition barn mill', ExitCode.badInput);
  const engine = await createEngine();
  const { rig, nodes } = await whichNodes(engine, names, rigOf(flags));
  await whole(() => cutLinks(engine, rig, nodes));
  note(`${nodes.map((n) => n.node).join(', ')} cut apart (each still reaches the sidecar); lift it with: rig heal --name ${rig}`);
}

/** rig heal [A B...]. */
export async function heal(names: string[], flags: DrillFlags): Promise<void> {
  if (names.length === 1)
    throw new RigError(
      'heal lifts the cuts between nodes: name two or more, or none (all).',
      'e.g. rig heal barn mill, or rig heal',
      ExitCode.badInput,
    );
  const engine = await createEngine();
  const { rig, nodes } = names.length
    ? await whichNodes(engine, names, rigOf(flags))
    : { rig: await (await import('../which-rig.js')).whichRig(engine, flags.name), nodes: [] };
  const lifted = await whole(() => healLinks(engine, rig, nodes));
  note(`rig ${rig}: ${lifted} cut${lifted === 1 ? '' : 's'} lifted`);
}

/** rig netem NODE --loss N% [--delay D] | --clear; the values are checked before anything is done. */
export async function netem(name: string, flags: DrillFlags & { loss?: string; delay?: string; clear?: boolean }): Promise<void> {
  const lossPercent = flags.loss === undefined ? undefined : parseLoss(flags.loss);
  const delayMs = flags.delay === undefined ? undefined : parseDelay(flags.delay);
  if (flags.clear && (lossPercent !== undefined || delayMs !== undefined))
    throw new RigError(
      '--clear takes no --loss or --delay.',
      'clear first, then set: rig netem NODE --clear; rig netem NODE --loss 5%',
      ExitCode.badInput,
    );
  if (!flags.clear && lossPercent === undefined && delayMs === undefined)
    throw new RigError('rig netem needs --loss, --delay or --clear.', 'e.g. rig netem mill --loss 5% --delay 200ms', ExitCode.badInput);
  const engine = await createEngine();
  const { nodes } = await whichNodes(engine, [name], rigOf(flags));
  const detail = await whole(() => impairLink(engine, nodes[0], { lossPercent, delayMs, clear: flags.clear }));
  note(`${nodes[0].node}: ${detail}`);
}
