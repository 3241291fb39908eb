import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from './owner.js';
import { fileURLToPath } from 'node:url';
import { Label } from '../labels.js';
import { nodeWiring, sidecarWiring } from '../plan/plan.js';
import type { Engine } from './context.js';
import { hostAccess, withFacts } from './status.js';

/**
 * A rig's keeper: a small detached process for each rig that is up, so that a Docker node or the sidecar that
 * restarts (`docker restart`, a crash under a restart policy) gets its wiring back. A restarted container has a
 * new network namespace and no eth0: the keeper hears its `start` (a Docker event, no polling), puts a new veth
 * with the planned name and MAC on the rig bridge and moves it in; the node's agent takes it from there (the
 * same MAC gets the same lease). It ends when the rig's network is removed. LXC nodes need none: LXC makes
 * their veth itself on every start.
 */
export function startKeeper(rig: string): void {
  const script = fileURLToPath(new URL('../cli/keeper.js', import.meta.url));
  spawn(process.execPath, [script, rig], { detached: true, stdio: 'ignore' }).unref();
}

/** Where a rig's keeper says it runs: its pid, in the sidecar's state directory (which goes with the rig). */
const keeperPidFile = (sidecarLabels: Record<string, string>) => join(sidecarLabels[Label.state] ?? '', 'keeper.pid');

/** Whether the rig's keeper runs: the process its pid file names is alive and is a keeper. */
export function keeperAlive(sidecarLabels: Record<string, string>): boolean {
  const file = keeperPidFile(sidecarLabels);
  if (!sidecarLabels[Label.state] || !existsSync(file)) return false;
  const pid = Number(readFileSync(file, 'utf8'));
  try {
    return processAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('keeper.js');
  } catch {
    return false; // gone between the two looks
  }
}

/**
 * Say that this process keeps the rig, unless a keeper already does: false then (one keeper per rig is enough,
 * and `up` of a rig whose keeper died starts one again).
 */
function registerKeeper(sidecarLabels: Record<string, string>): boolean {
  if (keeperAlive(sidecarLabels)) return false;
  writeFileSync(keeperPidFile(sidecarLabels), String(process.pid));
  return true;
}

export async function keep(engine: Engine, rig: string, log: (line: string) => void): Promise<void> {
  const { runtime } = engine;
  const [[network], containers] = await Promise.all([runtime.networks(rig), runtime.containers(rig)]);
  const sidecar = containers.find((c) => c.role === 'sidecar');
  if (!network || !sidecar || !registerKeeper(sidecar.labels)) return;
  const rewire = async (id: string, labels: Record<string, string>) => {
    const node = labels[Label.node];
    const wiring = labels[Label.role] === 'sidecar' ? sidecarWiring(rig) : node ? nodeWiring(rig, node) : undefined;
    if (!wiring) return;
    const what = node ?? 'the sidecar';
    try {
      const state = await runtime.containerState(id);
      if (!state.stoppedBefore) return; // a first start is a new node's (a reconcile's): whoever launched it wires it
      if (node) await markRestarted(engine, rig, node);
      if (!state.running) return;
      await runtime.wire(network.bridge, wiring.hostInterface, wiring.mac, state.pid);
      log(`${what} restarted: wired to ${network.bridge} again`);
    } catch (err) {
      log(`${what} restarted, but could not be wired again: ${(err as Error).message}`);
    }
  };
  let stop = () => {};
  await new Promise<void>((resolve) => {
    void runtime
      .watchStarts(rig, network.id, (id, labels) => void rewire(id, labels), resolve)
      .then(async (stopWatching) => {
        stop = stopWatching;
        // A network removed between the look-up and the subscription would never say so: look once more.
        if (!(await runtime.networks(rig)).length) resolve();
      }, resolve);
  });
  stop();
}

/** The stage says so at once: a restarted node is not `ready` until its agent says it is again. */
async function markRestarted(engine: Engine, rig: string, node: string): Promise<void> {
  const sidecar = (await engine.runtime.containers(rig)).find((c) => c.role === 'sidecar');
  const [network] = await engine.runtime.networks(rig);
  if (sidecar?.state !== 'running' || !network) return;
  await withFacts(hostAccess(network, sidecar.labels, rig), (f) => f.setStage(rig, node, 'restarted'));
}
