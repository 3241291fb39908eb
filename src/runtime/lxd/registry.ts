import { existsSync } from 'node:fs';
import { ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import type { RigContainer, RigRegistry } from '../runtime.js';
import type { LxdClient, Instance } from './api.js';
import { followEvents, instanceOf } from './events.js';
import { labelsOf } from './marks.js';
import { lxdRigNetworks, networkNamed } from './rig-networks.js';
import { deleteWhenFree } from './stopping.js';
import { LxdError } from './transport.js';

/**
 * Where rigs on LXD are found: a rig is its LXD network and the instances that carry its marks (user.rig.*). Its
 * nodes are the LXD backend's (nodes.ts); what this lists besides them is its sidecar.
 */

/** An instance's state in the words the engine reads (Docker's): running, paused, exited. */
const stateOf = (i: Instance) => (i.status === 'Running' ? 'running' : i.status === 'Frozen' ? 'paused' : i.status.toLowerCase());

function containerOf(i: Instance): RigContainer {
  const labels = labelsOf(i.config);
  return { id: i.name, name: i.name, role: labels[Label.role] ?? '', node: labels[Label.node], state: stateOf(i), labels };
}

export function lxdRigRegistry(
  client: LxdClient,
  socket: string | undefined, // this host's daemon's; undefined: a remote
  sidecars: { settled(): Promise<void>; removed(id: string): void },
): RigRegistry {
  return {
    networks: (rig) => lxdRigNetworks(client, rig),
    // Its nodes are listed by the LXD backend, as Docker's registry lists no LXC node. A sidecar this process is
    // making is waited for: a rig removed meanwhile (Ctrl-C) is then removed whole.
    containers: async (rig) => {
      await sidecars.settled();
      return (await client.rigInstances(rig)).map(containerOf).filter((c) => c.role !== 'node');
    },
    removeContainer: async (id) => {
      // Its init ends its daemons on SIGTERM (lxc.signal.halt): a stop that does not end in 2 s is made at once.
      await client
        .setState(id, 'stop', false, 2_000)
        .catch(() => client.setState(id, 'stop', true))
        .catch(() => undefined); // not running, or gone: the delete says
      await deleteWhenFree(client, id);
      sidecars.removed(id);
    },
    containersNamed: async (names) => {
      await sidecars.settled();
      return (await client.instances())
        .filter((i) => names.includes(i.name))
        .map((i) => ({ name: i.name, rig: labelsOf(i.config)[Label.rig] }));
    },
    watchStarts: async (rig, networkId, onStart, onEnd) => {
      const network = await networkNamed(client, networkId);
      const stream = await followEvents(client, ['lifecycle'], (event) => {
        const action = event.metadata.action;
        if (action === 'network-deleted' && event.metadata.source === `/1.0/networks/${network}`) return onEnd();
        const name = action === 'instance-started' ? instanceOf(event) : undefined;
        if (!name) return;
        client
          .instance(name)
          .then((found) => {
            const labels = labelsOf(found?.config);
            if (labels[Label.rig] === rig) onStart(name, labels);
          })
          .catch(() => {}); // deleted meanwhile: no start to follow
      });
      void stream.ended.then(() => onEnd());
      return () => stream.stop();
    },
    engineStopped: (err, rig) => lxdStopped(err, socket, rig),
  };
}

/**
 * This host's LXD daemon went away under a call (it stopped), or does not answer on its socket at all (stopped
 * uncleanly, or starting, or stopping): said as the Docker engine's going is. Undefined for any other error, and
 * for a remote's (no socket).
 */
export function lxdStopped(err: unknown, socket: string | undefined, rig?: string): RigError | undefined {
  if (socket === undefined || !(err instanceof LxdError) || err.status !== 0 || !err.lxdMessage.includes(socket)) return undefined;
  const gone = !existsSync(socket);
  return new RigError(
    gone
      ? `The LXD daemon stopped answering (its socket ${socket} is gone).`
      : `The LXD daemon does not answer on ${socket} (${err.lxdMessage.replace(/ \(LXD at .*\)$/, '')}).`,
    `start it again (scripts/lxd-host up, or lxd waitready to see it answer); then remove what is left with: rig down --name ${rig ?? 'NAME'}`,
    ExitCode.failed,
    { cause: err },
  );
}

/**
 * An instance's state for the host's wiring. LXD puts its NIC on the bridge on every start, so there is never a
 * restart for this host to wire: a start counts as a first one (stoppedBefore: false), and the keeper leaves it.
 */
export async function instanceState(client: LxdClient, id: string): Promise<{ running: boolean; pid: number; stoppedBefore: boolean }> {
  const { status, pid } = await client.state(id);
  return { running: status === 'Running', pid, stoppedBefore: false };
}
