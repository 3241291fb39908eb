import { rigStatus, sidecarDown, UNWIRED, type RigStatus } from '../../engine/status.js';
import { ExitCode } from '../../errors.js';
import { createEngine } from '../engine.js';
import { colourState, table } from '../table.js';
import { warn } from '../output.js';
import { noSuchRig, upRigNames } from '../which-rig.js';

export async function status(flags: { name?: string; json?: boolean }): Promise<void> {
  const engine = await createEngine();
  const rigs = await rigStatus(engine, flags.name);
  if (flags.name !== undefined && !rigs.length) throw noSuchRig(flags.name, await upRigNames(engine));
  printStatus(rigs, !!flags.json);
  const broken = rigs.filter((r) => r.sidecar !== 'running');
  for (const err of broken.map((r) => sidecarDown(r.name, r.sidecar))) warn(`${err.message} (fix: ${err.hint})`);
  for (const rig of rigs.filter((r) => r.sidecar === 'running')) keeperWarnings(rig).forEach((w) => warn(w));
  if (broken.length || rigs.some((r) => r.nodes.some((n) => n.stage === UNWIRED))) process.exitCode = ExitCode.failed;
}

/** What a rig without its keeper, or with nodes it left unwired, is missing, and how to get it back. */
export function keeperWarnings(rig: RigStatus): string[] {
  const again = `rig up ${rig.file ?? 'RIGFILE'} starts it again and wires the nodes`;
  const unwired = rig.nodes.filter((n) => n.stage === UNWIRED).map((n) => n.fqdn);
  return [
    ...(rig.keeper
      ? []
      : [`the keeper of rig ${rig.name} is not running: a node or the sidecar that restarts is not wired again (${again})`]),
    ...(unwired.length
      ? [`${unwired.join(', ')} ${unwired.length > 1 ? 'have' : 'has'} no network: restarted while no keeper ran (${again})`]
      : []),
  ];
}

export function printStatus(rigs: RigStatus[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rigs, null, 2));
    return;
  }
  if (!rigs.length) {
    console.log('No rig is up.');
    return;
  }
  for (const rig of rigs) {
    console.log(`rig ${rig.name}  subnet ${rig.subnet}  dns ${rig.dns}  etcd ${rig.etcd}`);
    // A rig with LXD nodes says where each runs: the member of its cluster (or its one LXD server).
    const placed = rig.nodes.some((n) => n.member);
    console.log(
      table(
        ['NODE', 'IP', 'MIRRORS', ...(placed ? ['MEMBER'] : []), 'STAGE'],
        rig.nodes.map((n) => [n.fqdn, n.ip, n.mirrors ?? '', ...(placed ? [n.member ?? ''] : []), colourState(n.stage)]),
      ),
    );
  }
}
