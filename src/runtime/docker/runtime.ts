import type Docker from 'dockerode';
import { Label } from '../../labels.js';
import type { HostWiring, ImageFiles, RigNetworks, RigRegistry } from '../runtime.js';
import { makeVeth, moveIntoNode, removeVeth } from '../veth.js';
import { guardPorts, removePortGuard, removePortGuards } from '../port-guard.js';
import { findRigContainers, removeContainer } from './containers.js';
import { lineStream } from './events.js';
import { unpackImage, unpackTools } from './unpack.js';
import { checkSubnetFree, createRigNetwork, findRigNetworks, removeBridgeRules, removeNetwork, removeOwnNetwork } from './network.js';
import { engineStopped } from './connect.js';

/** The rig registry on the Docker engine: a rig is its network and the containers that carry its label. */
export function dockerRigRegistry(docker: Docker): RigRegistry {
  return {
    networks: (rig) => findRigNetworks(docker, rig),
    containers: (rig) => findRigContainers(docker, rig),
    removeContainer: (id) => removeContainer(docker, id),
    containersNamed: (names) => containersNamed(docker, names),
    watchStarts: (rig, networkId, onStart, onEnd) => watchStarts(docker, rig, networkId, onStart, onEnd),
    engineStopped,
  };
}

/** A rig's network: a Docker bridge network, with this host's firewall rule and port guard on it. */
export function dockerNetworks(docker: Docker): RigNetworks {
  return {
    createNetwork: (request) => createRigNetwork(docker, request),
    removeNetwork: (id) => removeNetwork(docker, id),
    removeOwnNetwork: async (id, rig) => void (await Promise.all([removeOwnNetwork(docker, id, rig), removePortGuard(rig, id)])),
    checkSubnetFree,
    guardPorts: (rig, networkId, ports) => guardPorts(rig, networkId, ports),
  };
}

/** Veths on this host, into the namespaces of the Docker engine's containers. */
export function dockerHostWiring(docker: Docker): HostWiring {
  return {
    async containerState(id) {
      const { State } = await docker.getContainer(id).inspect();
      return { running: State.Running, pid: State.Pid, stoppedBefore: !State.FinishedAt.startsWith('0001-') };
    },
    async wire(bridge, hostInterface, mac, pid) {
      await makeVeth(bridge, hostInterface, mac);
      await moveIntoNode(pid, hostInterface);
    },
    removeHostInterfaces: async (hostInterfaces) => void (await Promise.all(hostInterfaces.map((i) => removeVeth(i)))),
    async removeWiring(rig, hostInterfaces) {
      await Promise.all(hostInterfaces.map((i) => removeVeth(i)));
      await Promise.all([removeBridgeRules(rig), removePortGuards(rig)]);
    },
  };
}

async function containersNamed(docker: Docker, names: string[]): Promise<Array<{ name: string; rig?: string }>> {
  const escape = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const found = await docker.listContainers({ all: true, filters: { name: names.map((n) => `^/?${escape(n)}$`) } });
  return found.map((c) => ({ name: c.Names[0]?.replace(/^\//, '') ?? '', rig: c.Labels[Label.rig] })).filter((c) => names.includes(c.name));
}

async function watchStarts(
  docker: Docker,
  rig: string,
  networkId: string,
  onStart: (id: string, labels: Record<string, string>) => void,
  onEnd: () => void,
): Promise<() => void> {
  const starts = await docker.getEvents({ filters: { type: ['container'], event: ['start'], label: [`${Label.rig}=${rig}`] } });
  const gone = await docker.getEvents({ filters: { type: ['network'], event: ['destroy'], network: [networkId] } });
  lineStream(
    starts,
    (line) => {
      const event = JSON.parse(line) as { id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
      onStart(event.Actor?.ID ?? event.id ?? '', event.Actor?.Attributes ?? {});
    },
    onEnd,
  );
  lineStream(gone, () => onEnd(), onEnd);
  return () => [starts, gone].forEach((stream) => (stream as unknown as { destroy(): void }).destroy());
}

/** The Docker engine's images as files on the host (for LXC nodes). */
export function dockerImageFiles(docker: Docker): ImageFiles {
  return {
    tools: (toolsImage, cacheDir) => unpackTools(docker, toolsImage, cacheDir),
    imageId: async (ref) => (await docker.getImage(ref).inspect()).Id,
    unpack: (ref, dir) => unpackImage(docker, ref, dir),
  };
}
