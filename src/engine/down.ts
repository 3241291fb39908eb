import { Label } from '../labels.js';
import { listNodes } from './nodes.js';
import { findRigContainers, removeContainer } from '../runtime/docker/containers.js';
import { findRigNetworks, removeBridgeRules, removeNetwork } from '../runtime/docker/network.js';
import type { Engine } from './context.js';
import { linksInUse, removeLinks } from './links.js';
import { nodeWiring, sidecarWiring } from '../plan/plan.js';
import { removeVeth } from '../runtime/veth.js';
import { removeSidecarState } from '../sidecars/sidecars.js';

export interface DownResult {
  rig: string;
  containers: number;
  links: string[];
  detached: string[]; // containers that were not rig's, attached to its network: disconnected and left running
}

/** Every rig that has anything left: a network or a container carrying the rig label, or a node of any backend. */
export async function rigNames(engine: Engine): Promise<string[]> {
  const [networks, containers, nodes] = await Promise.all([
    findRigNetworks(engine.docker),
    findRigContainers(engine.docker),
    listNodes(engine),
  ]);
  const names = [...networks.map((n) => n.labels[Label.rig]), ...containers.map((c) => c.labels[Label.rig]), ...nodes.map((n) => n.rig)];
  return [...new Set(names)].sort();
}

/**
 * Remove everything of one rig, found by its labels alone (no rig file needed, and after an `up` that died
 * halfway): nodes and the sidecar at once (the leases and etcd keys live in the sidecar and go with it, so a
 * rebuilt rig starts from none), then the network, its firewall rule and the symlinks this rig made.
 */
export async function destroyRig(engine: Engine, rig: string): Promise<DownResult> {
  const { docker } = engine;
  const backends = Object.values(engine.backends);
  const [before, nodes] = await Promise.all([findRigContainers(docker, rig), Promise.all(backends.map((b) => b.list(rig)))]);
  const sidecars = before.filter((c) => c.role !== 'node');
  await Promise.all([...backends.map((b) => b.removeAll(rig)), ...sidecars.map((c) => removeContainer(docker, c.id))]);
  sidecars.forEach((c) => removeSidecarState(c.labels));
  // A veth goes with its container's namespace once it is wired; one made but not yet moved (up stopped while
  // the node waited for the sidecar) is still on the host.
  const veths = [...nodes.flat().map((n) => nodeWiring(rig, n.node).hostInterface), sidecarWiring(rig).hostInterface];
  await Promise.all(veths.map(removeVeth));
  const usedByOthers = await linksInUse(engine, rig);
  const networks = await findRigNetworks(docker, rig);
  const used = [
    ...networks.flatMap((n) => JSON.parse(n.labels[Label.links] ?? '[]') as Array<{ path: string; target: string }>),
    ...nodes.flat().flatMap((n) => n.links ?? []),
  ];
  const detached: string[] = [];
  for (const network of networks) detached.push(...(await removeNetwork(docker, network.id)));
  const links = removeLinks(used, usedByOthers);
  await removeBridgeRules(rig);
  return { rig, containers: sidecars.length + nodes.flat().length, links, detached };
}
