import { createHash } from 'node:crypto';
import { ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { parseCidr, pickSubnet } from '../../ipv4.js';
import { lxdNetworkName, rigAddresses } from '../../plan/plan.js';
import { allowLxdBridge, removeBridgeRules } from '../bridge-rules.js';
import { checkSubnetFree, hostRoutes } from '../host-routes.js';
import { guardPorts, removePortGuard } from '../port-guard.js';
import type { NetworkRequest, RigNetwork, RigNetworks } from '../runtime.js';
import type { LxdClient } from './api.js';
import { labelsOf, marksOf } from './marks.js';
import { createBridge, createClusterBridge, deleteNetwork, rigNetworks, tunnelIds, vxlanIdFor, type LxdNetwork } from './networks.js';
import { LxdError } from './transport.js';

/**
 * A rig's L2 segment made by LXD: a managed bridge (networks.ts: no address, no DHCP, no DNS of LXD's; the rig's
 * sidecar serves it), marked as the rig's. On this host's daemon it is in this host's network namespace, so rig's
 * port guard and firewall rule go on it as on a Docker bridge; a rig that may reach out gets the gateway address on
 * it and LXD's NAT, an internal one gives the host no address on it at all. On a cluster it is on every online
 * member, joined by VXLAN (one id per rig); on a remote, rig writes no firewall of this host's for it (none of its
 * members is this host: docs/multi-host.md, port security).
 */

/** Where a rig network is made: this host's daemon or not, and a cluster's online members (undefined: no cluster). */
export interface NetworkPlace {
  local: boolean;
  members(): Promise<string[] | undefined>;
}

export const LOCAL_NETWORK_PLACE: NetworkPlace = { local: true, members: async () => undefined };

/** Whether a bridge is an LXD rig bridge (LXD puts the NICs on it: nothing for this host to wire). */
export const isLxdBridge = (bridge: string) => /^rl[0-9a-f]{10}(?:[0-9a-f]{2})?$/.test(bridge); // 12 hex: rigs made before the tunnel's name was counted

/** A rig network's id, as the engine names it: hex, like Docker's (the port guard's table is named by its start). */
export const lxdNetworkId = (name: string) => createHash('sha256').update(`lxd-network:${name}`).digest('hex');

/** The keys LXD's firewall would add for a managed bridge: none (rig's rules are the only ones, see bridge-rules.ts). */
const NO_LXD_FIREWALL = { 'ipv4.firewall': 'false', 'ipv6.firewall': 'false' };

export function rigNetworkOf(n: LxdNetwork): RigNetwork {
  const labels = labelsOf(n.config);
  return {
    id: lxdNetworkId(n.name),
    name: n.name,
    bridge: n.name,
    internal: labels[Label.internal] === 'true',
    addresses: rigAddresses(labels[Label.subnet] ?? '0.0.0.0/24'),
    labels,
    segment: 'lxd',
  };
}

export async function lxdRigNetworks(client: LxdClient, rig?: string): Promise<RigNetwork[]> {
  return (await rigNetworks(client, rig)).filter((n) => labelsOf(n.config)[Label.subnet]).map(rigNetworkOf);
}

/** The LXD network behind a rig network id, if it is one of rig's. */
export async function networkNamed(client: LxdClient, id: string): Promise<string | undefined> {
  return (await rigNetworks(client)).find((n) => lxdNetworkId(n.name) === id)?.name;
}

/**
 * A subnet for the rig: the first /24 of the pool no host route covers and no other LXD rig has. The host has no
 * address on an internal rig's bridge, so a clash with another rig would cost nothing but a confusing `rig status`;
 * a rig that may reach out gets the gateway address, and the host's routes keep two of those apart.
 */
async function pickLxdSubnet(client: LxdClient, req: NetworkRequest): Promise<string> {
  if (req.subnet) return req.subnet;
  const taken = [...hostRoutes().map((r) => r.subnet), ...(await lxdRigNetworks(client)).map((n) => n.addresses.subnet)];
  const subnet = pickSubnet(req.pool, taken);
  if (!subnet)
    throw new RigError(
      `No free /24 left in the address pool ${req.pool}.`,
      'remove old rigs (rig down --all) or set network.pool in the rig file',
      ExitCode.badInput,
    );
  return subnet;
}

/** The bridge, plain on one daemon, the cluster form on a cluster (VXLAN with the rig's own id across members). */
async function makeBridge(client: LxdClient, name: string, rig: string, config: Record<string, string>, where: NetworkPlace) {
  const members = await where.members();
  if (!members) return createBridge(client, name, {}, config);
  const tunnel = members.length > 1 ? { id: vxlanIdFor(rig, await tunnelIds(client)) } : undefined;
  try {
    await createClusterBridge(client, name, members, tunnel, {}, config);
  } catch (err) {
    // a network pending on some members is not one LXD lists as rig's: removed here, unless it was another's (409)
    if (!(err instanceof LxdError && (err.status === 409 || /already exists/i.test(err.lxdMessage))))
      await deleteNetwork(client, name).catch(() => {}); // the first error is the one to tell
    throw err;
  }
}

export async function createLxdNetwork(
  client: LxdClient,
  req: NetworkRequest,
  where: NetworkPlace = LOCAL_NETWORK_PLACE,
): Promise<{ network: RigNetwork; firewall: Promise<void> }> {
  const rig = req.labels[Label.rig];
  const name = lxdNetworkName(rig); // the plan's network name for a rig on LXD (req.name)
  const subnet = await pickLxdSubnet(client, req);
  const addresses = rigAddresses(subnet);
  const labels = { ...req.labels, [Label.subnet]: subnet, [Label.internal]: String(req.internal) };
  // A rig that may reach out: the host routes for it, as Docker's bridge does (its gateway address, LXD's NAT).
  const way: Record<string, string> = req.internal
    ? {}
    : { 'ipv4.address': `${addresses.gateway}/${parseCidr(subnet).prefix}`, 'ipv4.nat': 'true' };
  try {
    await makeBridge(client, name, rig, { ...marksOf(labels), ...NO_LXD_FIREWALL, ...way }, where);
  } catch (err) {
    if (err instanceof LxdError && (err.status === 409 || /already exists/i.test(err.lxdMessage))) {
      throw new RigError(
        `A rig named ${rig} is already up (LXD network ${name} exists).`,
        `bring it down first (rig down --name ${rig}) or pick another name with --name`,
        ExitCode.badInput,
      );
    }
    throw err;
  }
  const network: RigNetwork = { ...rigNetworkOf({ name, type: 'bridge', managed: true, status: 'Created', config: marksOf(labels) }) };
  const firewall = where.local ? allowLxdBridge(name, rig, req.internal) : Promise.resolve();
  firewall.catch(() => {}); // the caller awaits it
  return { network, firewall };
}

/** A rig network made by LXD: its bridge, and on this host's daemon this host's rules and the port guard on it. */
export function lxdNetworks(client: LxdClient, where: NetworkPlace = LOCAL_NETWORK_PLACE): RigNetworks {
  const remove = async (id: string): Promise<string[]> => {
    const name = await networkNamed(client, id);
    if (!name) return [];
    try {
      await deleteNetwork(client, name);
    } catch (err) {
      // LXD refuses while an instance uses it: one that is not rig's (rig's are removed before the network).
      throw new RigError(
        `LXD did not remove the rig network ${name}: ${err instanceof LxdError ? err.lxdMessage : String(err)}`,
        `see what uses it: lxc network show ${name}; remove that, then rig down again`,
        undefined,
        { cause: err },
      );
    }
    return [];
  };
  return {
    createNetwork: (request) => createLxdNetwork(client, request, where),
    removeNetwork: remove,
    removeOwnNetwork: async (id, rig) => {
      await remove(id);
      if (where.local) await Promise.all([removeBridgeRules(rig), removePortGuard(rig, id)]);
    },
    checkSubnetFree,
    guardPorts: async (rig, networkId, ports) => (where.local ? guardPorts(rig, networkId, ports) : undefined),
  };
}
