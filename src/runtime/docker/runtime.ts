import type Docker from 'dockerode';
import type { RigRuntime } from '../runtime.js';
import { removeVeth } from '../veth.js';
import { findRigContainers, removeContainer } from './containers.js';
import { findRigNetworks, removeBridgeRules, removeNetwork, removeOwnNetwork } from './network.js';

/** The rig runtime on the Docker engine and this host's network tools. */
export function dockerRuntime(docker: Docker): RigRuntime {
  return {
    networks: (rig) => findRigNetworks(docker, rig),
    containers: (rig) => findRigContainers(docker, rig),
    removeContainer: (id) => removeContainer(docker, id),
    removeNetwork: (id) => removeNetwork(docker, id),
    removeOwnNetwork: (id, rig) => removeOwnNetwork(docker, id, rig),
    async removeWiring(rig, hostInterfaces) {
      await Promise.all(hostInterfaces.map(removeVeth));
      await removeBridgeRules(rig);
    },
  };
}
