import type Docker from 'dockerode';
import { Label } from '../../labels.js';
import type { RigRuntime } from '../runtime.js';
import { removeVeth } from '../veth.js';
import { findRigContainers, removeContainer } from './containers.js';
import { lineStream } from './events.js';
import { createRigNetwork, findRigNetworks, removeBridgeRules, removeNetwork, removeOwnNetwork } from './network.js';

/** The rig runtime on the Docker engine and this host's network tools. */
export function dockerRuntime(docker: Docker): RigRuntime {
  return {
    networks: (rig) => findRigNetworks(docker, rig),
    containers: (rig) => findRigContainers(docker, rig),
    removeContainer: (id) => removeContainer(docker, id),
    removeNetwork: (id) => removeNetwork(docker, id),
    removeOwnNetwork: (id, rig) => removeOwnNetwork(docker, id, rig),
    containersNamed: (names) => containersNamed(docker, names),
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
    watchDeaths: (rig, onDeath) => watchDeaths(docker, rig, onDeath),
    removeHostInterfaces: async (hostInterfaces) => void (await Promise.all(hostInterfaces.map(removeVeth))),
    async removeWiring(rig, hostInterfaces) {
      await Promise.all(hostInterfaces.map(removeVeth));
      await removeBridgeRules(rig);
    },
  };
}

async function containersNamed(docker: Docker, names: string[]): Promise<Array<{ name: string; rig?: string }>> {
  const escape = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const found = await docker.listContainers({ all: true, filters: { name: names.map((n) => `^/?${escape(n)}$`) } });
  return found.map((c) => ({ name: c.Names[0]?.replace(/^\//, '') ?? '', rig: c.Labels[Label.rig] })).filter((c) => names.includes(c.name));
}

async function imageHasFile(docker: Docker, image: string, paths: string[]): Promise<boolean> {
  const probe = await docker.createContainer({
    Image: image,
    Cmd: ['/.rig-probe'],
    Labels: { [Label.role]: 'probe' },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    for (const path of paths) {
      const found = await probe.infoArchive({ path }).then(
        () => true,
        () => false,
      );
      if (found) return true;
    }
    return false;
  } finally {
    await probe.remove({ force: true }).catch(() => {});
  }
}

async function watchDeaths(docker: Docker, rig: string, onDeath: (node: string) => void): Promise<() => void> {
  const events = await docker.getEvents({ filters: { label: [`${Label.rig}=${rig}`], event: ['die'], type: ['container'] } });
  lineStream(events, (line) => {
    const node = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.[Label.node];
    if (node) onDeath(node);
  });
  return () => (events as unknown as { destroy(): void }).destroy();
}
