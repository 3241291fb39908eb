import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Label } from '../labels.js';
import { nodeWiring, sidecarWiring } from '../plan/plan.js';
import { lineStream } from '../runtime/docker/events.js';
import { makeVeth, moveIntoNode } from '../runtime/veth.js';
import { etcdUrl } from '../sidecars/sidecars.js';
import type { Engine } from './context.js';
import { withFacts } from './status.js';

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

interface DockerEvent {
  Type?: string;
  Action?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

export async function keep(engine: Engine, rig: string, log: (line: string) => void): Promise<void> {
  const { docker } = engine;
  const [network] = await engine.runtime.networks(rig);
  if (!network) return;
  const containerEvents = await docker.getEvents({ filters: { type: ['container'], event: ['start'], label: [`${Label.rig}=${rig}`] } });
  const networkEvents = await docker.getEvents({ filters: { type: ['network'], event: ['destroy'], network: [network.id] } });
  // A network removed between the look-up and the subscription would never say so: look once more.
  if (!(await engine.runtime.networks(rig)).length) return close();

  function close() {
    for (const stream of [containerEvents, networkEvents]) (stream as unknown as { destroy(): void }).destroy();
  }

  const rewire = async (event: DockerEvent) => {
    const attributes = event.Actor?.Attributes ?? {};
    const id = event.Actor?.ID ?? event.id ?? '';
    const node = attributes[Label.node];
    const wiring = attributes[Label.role] === 'sidecar' ? sidecarWiring(rig) : node ? nodeWiring(rig, node) : undefined;
    if (!wiring) return;
    const what = node ?? 'the sidecar';
    try {
      const { State } = await docker.getContainer(id).inspect();
      // A first start is a new node's (a reconcile's): whoever launched it wires it. Only a container that ran and
      // stopped before has a FinishedAt.
      if (State.FinishedAt.startsWith('0001-')) return;
      if (node) await markRestarted(engine, rig, node);
      if (!State.Running) return;
      await makeVeth(network.bridge, wiring.hostInterface, wiring.mac);
      await moveIntoNode(State.Pid, wiring.hostInterface);
      log(`${what} restarted: wired to ${network.bridge} again`);
    } catch (err) {
      log(`${what} restarted, but could not be wired again: ${(err as Error).message}`);
    }
  };

  await new Promise<void>((resolve) => {
    lineStream(containerEvents, (line) => void rewire(JSON.parse(line) as DockerEvent));
    lineStream(networkEvents, () => resolve());
    containerEvents.on('end', resolve);
    networkEvents.on('end', resolve);
  });
  close();
}

/** The stage says so at once: a restarted node is not `ready` until its agent says it is again. */
async function markRestarted(engine: Engine, rig: string, node: string): Promise<void> {
  const sidecar = (await engine.runtime.containers(rig)).find((c) => c.role === 'sidecar');
  const [network] = await engine.runtime.networks(rig);
  if (sidecar?.state !== 'running' || !network) return;
  await withFacts({ url: etcdUrl(network), rootPassword: sidecar.labels[Label.etcdRoot], rig }, (f) => f.setStage(rig, node, 'restarted'));
}
