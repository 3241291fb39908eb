import { createHash } from 'node:crypto';
import { isNotFound } from './transport.js';
import type { LxdClient } from './api.js';
import { isRigs } from './marks.js';

/**
 * A rig's L2 segment in LXD: a managed bridge with no address of its own and no DHCP (rig's sidecar serves DHCP
 * and DNS on it, as on Docker), and in a cluster the same bridge on every member joined by LXD's VXLAN tunnel, one
 * VXLAN id per rig, multicast (unicast tunnels cannot be set per member in LXD 5.0; see docs/multi-host.md).
 */

export interface LxdNetwork {
  name: string;
  type: string;
  managed: boolean;
  status: string; // Created, Pending (defined on some members only), Errored
  config: Record<string, string>;
  locations?: string[];
}

/** What every rig bridge is: LXD gives it no address, serves it no DHCP or DNS, and routes nothing out of it. */
export const RIG_BRIDGE_CONFIG: Readonly<Record<string, string>> = {
  'ipv4.address': 'none',
  'ipv6.address': 'none',
  'ipv4.dhcp': 'false',
  'ipv6.dhcp': 'false',
  'ipv4.nat': 'false',
  'ipv6.nat': 'false',
  'dns.mode': 'none',
};

/** The tunnel's name: LXD names its interface <network>-<name>, and Linux allows 15 characters (a rig network has 12). */
export const TUNNEL = 'v';

/** The cluster-wide tunnel of a rig's bridge: multicast VXLAN on each member's `device`, with the rig's own id. */
export interface VxlanTunnel {
  id: number; // 1..16777215; one per rig (two rigs with one id would share a segment)
  device?: string; // the members' interface that carries it (the same name on every member); none: LXD's default route's
  group?: string; // the multicast group (LXD's default: 239.0.0.1)
}

export async function networks(client: LxdClient): Promise<LxdNetwork[]> {
  return (await client.transport.json<LxdNetwork[]>('GET', '/1.0/networks?recursion=1')).metadata;
}

/** Networks carrying rig's marks (of one rig, or of all). */
export async function rigNetworks(client: LxdClient, rig?: string): Promise<LxdNetwork[]> {
  return (await networks(client)).filter((n) => n.managed && isRigs(n.config, rig));
}

export async function network(client: LxdClient, name: string): Promise<LxdNetwork | undefined> {
  try {
    return (await client.transport.json<LxdNetwork>('GET', `/1.0/networks/${encodeURIComponent(name)}`)).metadata;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A bridge on the one daemon (or a one-member cluster): rig's config, its marks, and `extra` keys. */
export async function createBridge(
  client: LxdClient,
  name: string,
  marks: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<void> {
  const body = { name, type: 'bridge', description: 'rig', config: { ...RIG_BRIDGE_CONFIG, ...marks, ...extra } };
  await client.transport.json('POST', '/1.0/networks', { body });
}

/**
 * A bridge on every one of `members`, joined by a VXLAN tunnel (none: one member). LXD's way for a cluster network:
 * defined on each member first (pending, `?target=`), then created cluster-wide with the config every member shares.
 * A failure after the first step leaves a pending network: the caller deletes it (deleteNetwork removes it from
 * every member).
 */
export async function createClusterBridge(
  client: LxdClient,
  name: string,
  members: string[],
  tunnel: VxlanTunnel | undefined,
  marks: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<void> {
  for (const member of members) {
    await client.transport.json('POST', `/1.0/networks?target=${encodeURIComponent(member)}`, { body: { name, type: 'bridge' } });
  }
  const config = {
    ...RIG_BRIDGE_CONFIG,
    ...marks,
    ...extra,
    ...(tunnel && {
      [`tunnel.${TUNNEL}.protocol`]: 'vxlan',
      [`tunnel.${TUNNEL}.id`]: String(tunnel.id),
      ...(tunnel.device ? { [`tunnel.${TUNNEL}.interface`]: tunnel.device } : {}),
      ...(tunnel.group ? { [`tunnel.${TUNNEL}.group`]: tunnel.group } : {}),
    }),
  };
  await client.transport.json('POST', '/1.0/networks', { body: { name, type: 'bridge', description: 'rig', config } });
}

/** Delete a network (from every member); one already gone counts as deleted. Instances still on it make LXD refuse. */
export async function deleteNetwork(client: LxdClient, name: string): Promise<void> {
  try {
    await client.transport.json('DELETE', `/1.0/networks/${encodeURIComponent(name)}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The VXLAN ids the networks LXD lists already use (any tunnel of any network, rig's or not). */
export async function tunnelIds(client: LxdClient): Promise<Set<number>> {
  const ids = (await networks(client)).flatMap((n) =>
    Object.entries(n.config ?? {})
      .filter(([key]) => /^tunnel\.[^.]+\.id$/.test(key))
      .map(([, value]) => Number(value)),
  );
  return new Set(ids);
}

/** A rig's VXLAN id: 24 bits of its name's hash, the next free one on a clash (two rigs with one id would share a segment). */
export function vxlanIdFor(rig: string, taken: ReadonlySet<number>): number {
  const MAX = 0xffffff;
  let id = (parseInt(createHash('sha256').update(`rig-vxlan:${rig}`).digest('hex').slice(0, 6), 16) % MAX) + 1;
  while (taken.has(id)) id = (id % MAX) + 1;
  return id;
}
