import type Docker from 'dockerode';
import { Label } from '../../labels.js';
import type { ImageFiles, RigRuntime } from '../runtime.js';
import { makeVeth, moveIntoNode, removeVeth } from '../veth.js';
import { guardPorts, removePortGuard, removePortGuards } from '../port-guard.js';
import { findRigContainers, removeContainer, streamContainerLog, waitForLog } from './containers.js';
import { lineStream } from './events.js';
import { readImage, unpackImage, unpackTools } from './unpack.js';
import { checkSubnetFree, createRigNetwork, findRigNetworks, removeBridgeRules, removeNetwork, removeOwnNetwork } from './network.js';
import { engineStopped } from './connect.js';

/** The rig runtime on the Docker engine and this host's network tools. */
export function dockerRuntime(docker: Docker): RigRuntime {
  return {
    networks: (rig) => findRigNetworks(docker, rig),
    containers: (rig) => findRigContainers(docker, rig),
    removeContainer: (id) => removeContainer(docker, id),
    removeNetwork: (id) => removeNetwork(docker, id),
    removeOwnNetwork: async (id, rig) => void (await Promise.all([removeOwnNetwork(docker, id, rig), removePortGuard(rig, id)])),
    containersNamed: (names) => containersNamed(docker, names),
    checkSubnetFree,
    engineStopped,
    imageExists: (ref) =>
      docker
        .getImage(ref)
        .inspect()
        .then(
          () => true,
          () => false,
        ),
    imageHasFile: (ref, paths) => imageHasFile(docker, ref, paths),
    createNetwork: (request) => createRigNetwork(docker, request),
    guardPorts: (rig, networkId, ports) => guardPorts(rig, networkId, ports),
    watchDeaths: (rig, onDeath) => watchDeaths(docker, rig, onDeath),
    watchSidecars: (onEvent) => watchSidecars(docker, onEvent),
    watchStarts: (rig, networkId, onStart, onEnd) => watchStarts(docker, rig, networkId, onStart, onEnd),
    async containerState(id) {
      const { State } = await docker.getContainer(id).inspect();
      return { running: State.Running, pid: State.Pid, stoppedBefore: !State.FinishedAt.startsWith('0001-') };
    },
    async wire(bridge, hostInterface, mac, pid) {
      await makeVeth(bridge, hostInterface, mac);
      await moveIntoNode(pid, hostInterface);
    },
    waitForLog: (id, patterns, timeoutMs) => waitForLog(docker, id, patterns, timeoutMs),
    streamLog: (id, options, onLine, signal) => streamContainerLog(docker, id, options, onLine, signal),
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

async function imageHasFile(docker: Docker, image: string, paths: string[]): Promise<boolean> {
  return readImage(docker, image, 'probe', async (probe) => {
    for (const path of paths) {
      const found = await probe.infoArchive({ path }).then(
        () => true,
        () => false,
      );
      if (found) return true;
    }
    return false;
  });
}

async function watchDeaths(docker: Docker, rig: string, onDeath: (node: string) => void): Promise<() => void> {
  const events = await docker.getEvents({ filters: { label: [`${Label.rig}=${rig}`], event: ['die'], type: ['container'] } });
  lineStream(events, (line) => {
    const node = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.[Label.node];
    if (node) onDeath(node);
  });
  return () => (events as unknown as { destroy(): void }).destroy();
}

async function watchSidecars(
  docker: Docker,
  onEvent: (event: { rig: string; id: string; action: 'start' | 'die' }) => void,
): Promise<() => void> {
  const events = await docker.getEvents({ filters: { type: ['container'], event: ['die', 'start'], label: [`${Label.role}=sidecar`] } });
  lineStream(events, (line) => {
    const event = JSON.parse(line) as {
      status?: string;
      Action?: string;
      id?: string;
      Actor?: { ID?: string; Attributes?: Record<string, string> };
    };
    const action = event.Action ?? event.status;
    if (action !== 'start' && action !== 'die') return;
    onEvent({ rig: event.Actor?.Attributes?.[Label.rig] ?? '', id: event.Actor?.ID ?? event.id ?? '', action });
  });
  return () => (events as unknown as { destroy(): void }).destroy();
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
