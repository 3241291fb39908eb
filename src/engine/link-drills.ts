// Drills on a rig's links: partitions between nodes, packet loss and delay on a node's link. The rules live on the
// host (runtime/impairments.ts), on the nodes' bridge ports, so they hold whatever a node does inside; each node's
// link to the sidecar (DHCP, DNS, etcd) is never cut.
import { ExitCode, RigError } from '../errors.js';
import { recordEvent } from '../facts/events.js';
import { nodeWiring } from '../runtime/veth.js';
import type { NodeInstance } from '../runtime/backend.js';
import { drillsTable, netemAvailable, readImpairments, setDelay, writeImpairments } from '../runtime/impairments.js';
import type { Engine } from './context.js';
import { factAccess, withFacts } from './status.js';

const portOf = (n: NodeInstance) => nodeWiring(n.rig, n.node).hostInterface;
const pairKey = (a: string, b: string) => [a, b].sort().join(' ');

/** Every pair of the given nodes. */
function pairs<T>(items: T[]): Array<[T, T]> {
  return items.flatMap((a, i) => items.slice(i + 1).map((b): [T, T] => [a, b]));
}

async function tableOf(engine: Engine, rig: string): Promise<string> {
  const [network] = await engine.rigs.networks(rig);
  if (!network) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig status', ExitCode.badInput);
  return drillsTable(rig, network.id);
}

async function record(engine: Engine, rig: string, event: Parameters<typeof recordEvent>[2]): Promise<void> {
  await withFacts(await factAccess(engine, rig), (f) => recordEvent(f, rig, event));
}

/** Cut every pair of the given nodes (at least two, of one rig) apart, both ways; what is cut already stays cut. */
export async function partition(engine: Engine, rig: string, nodes: NodeInstance[]): Promise<void> {
  if (nodes.length < 2) throw new RigError('A partition needs at least two nodes.', 'e.g. rig partition barn mill', ExitCode.badInput);
  await factAccess(engine, rig); // the sidecar runs: the drill can be recorded
  const table = await tableOf(engine, rig);
  const state = await readImpairments(table);
  const have = new Set(state.cuts.map(([a, b]) => pairKey(a, b)));
  for (const [a, b] of pairs(nodes.map(portOf))) if (!have.has(pairKey(a, b))) state.cuts.push([a, b]);
  await writeImpairments(table, state);
  await record(engine, rig, { kind: 'partition', nodes: nodes.map((n) => n.node) });
}

/** Lift the cuts between the given nodes (none given: every cut of the rig). Loss and delay stay (netem --clear). */
export async function heal(engine: Engine, rig: string, nodes: NodeInstance[]): Promise<number> {
  const table = await tableOf(engine, rig);
  const state = await readImpairments(table);
  const lift = new Set(pairs(nodes.map(portOf)).map(([a, b]) => pairKey(a, b)));
  const before = state.cuts.length;
  state.cuts = nodes.length ? state.cuts.filter(([a, b]) => !lift.has(pairKey(a, b))) : [];
  await writeImpairments(table, state);
  await record(engine, rig, { kind: 'heal', ...(nodes.length ? { nodes: nodes.map((n) => n.node) } : {}) });
  return before - state.cuts.length;
}

/**
 * A paused node's port passes nothing (`paused`), or again everything. Freezing a container stops its processes,
 * not its kernel, which would go on answering pings and refusing connections: a frozen machine answers nothing.
 */
export async function cutWhilePaused(engine: Engine, node: { rig: string; node: string }, paused: boolean): Promise<void> {
  const [network] = await engine.rigs.networks(node.rig);
  if (!network) return;
  const table = drillsTable(node.rig, network.id);
  const state = await readImpairments(table);
  const port = nodeWiring(node.rig, node.node).hostInterface;
  if (paused === state.paused.has(port)) return;
  if (paused) state.paused.add(port);
  else state.paused.delete(port);
  await writeImpairments(table, state);
}

export interface Impairment {
  lossPercent?: number; // 0-100
  delayMs?: number;
  clear?: boolean;
}

/**
 * Impair a node's link: drop a share of what it sends (nftables), delay what it receives (netem, where the kernel
 * has it: checked before anything is changed), or clear both.
 */
export async function netem(engine: Engine, node: NodeInstance, impairment: Impairment): Promise<string> {
  const { lossPercent, delayMs, clear } = impairment;
  if (delayMs !== undefined) {
    const netemHere = await netemAvailable();
    if (!netemHere.ok)
      throw new RigError(
        `This kernel has no netem qdisc, which --delay needs (tc said: ${netemHere.why || 'no netem'}).`,
        'load it (modprobe sch_netem) or use a kernel built with CONFIG_NET_SCH_NETEM; --loss works without it (see rig doctor)',
        ExitCode.engineUnavailable,
      );
  }
  await factAccess(engine, node.rig);
  const table = await tableOf(engine, node.rig);
  const state = await readImpairments(table);
  const port = portOf(node);
  if (clear) state.loss.delete(port);
  if (lossPercent !== undefined) {
    if (lossPercent === 0) state.loss.delete(port);
    else state.loss.set(port, lossPercent);
  }
  await writeImpairments(table, state);
  if (clear) await setDelay(port, undefined);
  if (delayMs !== undefined) await setDelay(port, delayMs || undefined);
  const detail = clear
    ? 'cleared'
    : [lossPercent !== undefined ? `loss ${lossPercent}%` : '', delayMs !== undefined ? `delay ${delayMs}ms` : '']
        .filter(Boolean)
        .join(', ');
  await record(engine, node.rig, { kind: 'netem', node: node.node, detail });
  return detail;
}

/** --loss as a whole percent, 0 to 100 ("5%" or "5"). */
export function parseLoss(text: string): number {
  const match = /^(\d{1,3})%?$/.exec(text.trim());
  const percent = match ? Number(match[1]) : NaN;
  if (!(percent >= 0 && percent <= 100))
    throw new RigError(
      `--loss ${JSON.stringify(text)} is not a share of 0 to 100%.`,
      'write a whole percent, e.g. --loss 5%',
      ExitCode.badInput,
    );
  return percent;
}

/** --delay as milliseconds ("200ms", "1s"). */
export function parseDelay(text: string): number {
  const match = /^(\d+)(ms|s)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (match[2] === 's' ? 1000 : 1) : NaN;
  if (!(ms >= 0 && ms <= 60_000))
    throw new RigError(
      `--delay ${JSON.stringify(text)} is not a delay.`,
      'write a duration of at most 60s, e.g. --delay 200ms or --delay 1s',
      ExitCode.badInput,
    );
  return ms;
}
