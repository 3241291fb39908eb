import type Docker from 'dockerode';
import { ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { pickSubnet } from '../../ipv4.js';
import { hostRoutes } from '../host-routes.js';

export { checkSubnetFree } from '../host-routes.js';
import { rigAddresses } from '../../plan/plan.js';
import { isConflict, isNotFound, isPoolOverlap } from './connect.js';
import { allowInsideBridge, removeBridgeRule } from '../bridge-rules.js';
import type { NetworkRequest, RigNetwork } from '../runtime.js';

/** Subnets already in use: every Docker network's and every route of the host. */
async function takenSubnets(docker: Docker): Promise<string[]> {
  const networks = await docker.listNetworks();
  const fromDocker = networks.flatMap((n) =>
    (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => !!s && !s.includes(':')),
  );
  return [...fromDocker, ...hostRoutes().map((r) => r.subnet)];
}

/** Create the rig's bridge network on a free subnet; another rig racing for the same subnet makes us try the next. */
export async function createRigNetwork(docker: Docker, req: NetworkRequest): Promise<{ network: RigNetwork; firewall: Promise<void> }> {
  const refused: string[] = []; // Docker may still hold a subnet no network lists (one just removed, one being made)
  for (let attempt = 0; attempt < 8; attempt++) {
    const subnet = req.subnet ?? pickSubnet(req.pool, [...(await takenSubnets(docker)), ...refused]);
    if (!subnet) {
      throw new RigError(
        `No free /24 left in the address pool ${req.pool}.`,
        'remove old rigs (rig down --all) or set network.pool in the rig file',
        ExitCode.badInput,
      );
    }
    const addresses = rigAddresses(subnet);
    try {
      const created = await docker.createNetwork({
        Name: req.name,
        Driver: 'bridge',
        Internal: req.internal,
        CheckDuplicate: true,
        Labels: req.labels,
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet, IPRange: addresses.dockerRange, Gateway: addresses.gateway }] },
      });
      const network: RigNetwork = {
        id: created.id,
        name: req.name,
        bridge: `br-${created.id.slice(0, 12)}`,
        internal: req.internal,
        addresses,
        labels: req.labels,
      };
      const firewall = req.internal ? allowInsideBridge(network.bridge, req.labels[Label.rig]) : Promise.resolve();
      firewall.catch(() => {}); // the caller awaits it
      return { network, firewall };
    } catch (err) {
      if (isConflict(err)) {
        throw new RigError(
          `A rig named ${req.labels[Label.rig]} is already up (network ${req.name} exists).`,
          `bring it down first (rig down --name ${req.labels[Label.rig]}) or pick another name with --name`,
          ExitCode.badInput,
        );
      }
      if (!req.subnet && isPoolOverlap(err)) {
        refused.push(subnet);
        continue;
      }
      if (req.subnet && isPoolOverlap(err)) {
        throw new RigError(
          `The subnet ${req.subnet} overlaps a network that already exists.`,
          'remove network.subnet from the rig file to get a free one, or pick another',
          ExitCode.badInput,
        );
      }
      throw err;
    }
  }
  throw new RigError('Could not find a free subnet after 8 tries.', 'try again, or set network.subnet in the rig file');
}

/** Remove a network this process made, and its firewall rule, and nothing of another rig that has the same name. */
export { removeBridgeRules } from '../bridge-rules.js';

export async function removeOwnNetwork(docker: Docker, id: string, rig: string): Promise<void> {
  await removeNetwork(docker, id);
  await removeBridgeRule(`br-${id.slice(0, 12)}`, rig);
}

export async function findRigNetworks(docker: Docker, rig?: string): Promise<RigNetwork[]> {
  const filter = rig ? `${Label.rig}=${rig}` : Label.rig;
  const found = await docker.listNetworks({ filters: { label: [filter] } });
  return found.map((n) => {
    const subnet = n.IPAM?.Config?.[0]?.Subnet ?? '';
    return {
      id: n.Id,
      name: n.Name,
      bridge: `br-${n.Id.slice(0, 12)}`,
      internal: !!n.Internal,
      addresses: rigAddresses(subnet),
      labels: n.Labels ?? {},
      created: n.Created,
    };
  });
}

/**
 * Remove a rig network. rig attaches nothing through Docker (nodes and the sidecar are wired by veths), so a
 * container Docker lists on it is someone else's: it is disconnected, never removed, and its name returned.
 */
export async function removeNetwork(docker: Docker, id: string): Promise<string[]> {
  const network = docker.getNetwork(id);
  let foreign: string[] = [];
  try {
    const { Containers } = (await network.inspect()) as { Containers?: Record<string, { Name: string }> };
    foreign = Object.entries(Containers ?? {}).map(([container, { Name }]) => Name || container);
    await Promise.all(Object.keys(Containers ?? {}).map((container) => network.disconnect({ Container: container, Force: true })));
    await network.remove();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return foreign;
}
