// Failure drills on a rig's links, on the host: partitions and packet loss as nftables rules on the rig bridge's
// ports (bridge family, a table of the rig's beside its port guard), delay as a netem qdisc on a node's veth.
import { ExitCode, RigError } from '../errors.js';
import { guardTable } from './port-guard.js';
import { CommandError, runCommand } from './command.js';

/** The drills table of a rig network: the port guard's name and `.drills` (removed with it by down, gc, the reaper). */
export const drillsTable = (rig: string, networkId: string) => `${guardTable(rig, networkId)}.drills`;

/** What is cut and impaired on a rig's bridge, by the host ends of the nodes' veths. */
export interface LinkImpairments {
  cuts: Array<[string, string]>; // no frame passes between these two ports, either way
  loss: Map<string, number>; // a share (percent) of the frames a port sends is dropped
  paused: Set<string>; // nothing passes this port, either way: a paused node answers nothing, as a frozen machine
}

/** The comments that name each rule's purpose: the table is its own record of what is cut and impaired. */
const CUT = /^cut (\S+) (\S+)$/;
const LOSS = /^loss (\S+) (\d+)$/;
const PAUSE = /^pause (\S+)$/;

/**
 * The nft script that sets the table to `state` (atomically: made, emptied and filled in one transaction), or removes
 * it when nothing is cut or impaired. A node's link to the sidecar is never cut: cuts name pairs of nodes only.
 */
export function impairmentScript(table: string, state: LinkImpairments): string {
  const rules = [
    ...state.cuts.flatMap(([a, b]) => [
      `    iifname "${a}" oifname "${b}" drop comment "cut ${a} ${b}"`,
      `    iifname "${b}" oifname "${a}" drop comment "cut ${a} ${b}"`,
    ]),
    ...[...state.paused].flatMap((port) => [
      `    iifname "${port}" drop comment "pause ${port}"`,
      `    oifname "${port}" drop comment "pause ${port}"`,
    ]),
    ...[...state.loss].map(
      ([port, percent]) => `    iifname "${port}" numgen random mod 100 < ${percent} drop comment "loss ${port} ${percent}"`,
    ),
  ];
  return [
    `table bridge ${table}`,
    `delete table bridge ${table}`,
    ...(rules.length
      ? [
          `table bridge ${table} {`,
          `  chain forward {`,
          `    type filter hook forward priority filter; policy accept;`,
          ...rules,
          `  }`,
          `}`,
        ]
      : []),
    '',
  ].join('\n');
}

/** Read what a drills table holds (nothing, if it is not there), from the comments of its rules. */
export async function readImpairments(table: string): Promise<LinkImpairments> {
  const state: LinkImpairments = { cuts: [], loss: new Map(), paused: new Set() };
  const listed = await runCommand('nft', ['-j', 'list', 'table', 'bridge', table], { allowFailure: true });
  if (listed.exitCode !== 0) return state; // no such table: nothing is cut
  const seen = new Set<string>();
  for (const item of (JSON.parse(listed.stdout) as { nftables: Array<{ rule?: { comment?: string } }> }).nftables) {
    const comment = item.rule?.comment ?? '';
    const cut = CUT.exec(comment);
    if (cut && !seen.has(comment)) state.cuts.push([cut[1], cut[2]]);
    seen.add(comment);
    const loss = LOSS.exec(comment);
    if (loss) state.loss.set(loss[1], Number(loss[2]));
    const pause = PAUSE.exec(comment);
    if (pause) state.paused.add(pause[1]);
  }
  return state;
}

export async function writeImpairments(table: string, state: LinkImpairments): Promise<void> {
  try {
    await runCommand('nft', ['-f', '-'], { input: impairmentScript(table, state) });
  } catch (err) {
    throw new RigError(
      `The drill's nftables rules could not be set: ${err instanceof CommandError ? err.result.stderr.trim() : String(err)}`,
      'rig needs root and nf_tables for bridges (see rig doctor)',
      ExitCode.failed,
      { cause: err },
    );
  }
}

/** Whether the kernel has the netem qdisc (delay): tried on a veth pair made for the purpose, and removed. */
export async function netemAvailable(): Promise<{ ok: boolean; why: string }> {
  const probe = `rignetem${process.pid % 100000}`;
  await runCommand('ip', ['link', 'add', probe, 'type', 'veth', 'peer', 'name', `${probe}p`]);
  try {
    const tried = await runCommand('tc', ['qdisc', 'add', 'dev', probe, 'root', 'netem', 'delay', '1ms'], { allowFailure: true });
    return { ok: tried.exitCode === 0, why: tried.stderr.trim() };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  } finally {
    await runCommand('ip', ['link', 'del', probe], { allowFailure: true });
  }
}

/** A node's delay: a netem qdisc on its veth's host end (what the bridge sends the node), or none (`ms` undefined). */
export async function setDelay(hostInterface: string, ms: number | undefined): Promise<void> {
  if (ms === undefined) {
    await runCommand('tc', ['qdisc', 'del', 'dev', hostInterface, 'root'], { allowFailure: true }); // none set: nothing to do
    return;
  }
  await runCommand('tc', ['qdisc', 'replace', 'dev', hostInterface, 'root', 'netem', 'delay', `${ms}ms`]);
}
