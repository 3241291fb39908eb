// The rig's sidecar as planned: the command lines of its dnsmasq and etcd, and dnsmasq's config for the nodes.
// Pure: the Docker engine's sidecar (runtime/docker/sidecar.ts) runs them.
import { nodeAddress, type Plan, type RigAddresses } from './plan.js';

/** Where a rig's sidecar is: its addresses, and whether the rig may reach out. */
export interface SidecarNetwork {
  addresses: RigAddresses;
  internal: boolean;
}

/**
 * dnsmasq serves the rig's DHCP and DNS: leases from the rig subnet, names under the rig domain, reverse lookups.
 * What depends on the rig's nodes is in a file of its own (nodesConf), so that a reconcile can change it.
 */
export function dnsmasqCommand(plan: Plan, net: SidecarNetwork): string[] {
  const a = net.addresses;
  const domain = plan.spec.domain;
  return [
    'dnsmasq',
    '--keep-in-foreground',
    '--log-facility=-',
    `--conf-file=${NODES_CONF_IN_SIDECAR}`, // and no /etc/dnsmasq.conf
    '--user=root',
    '--no-hosts',
    `--domain=${domain},${a.subnet}`,
    `--local=/${domain}/`, // names under the rig domain are answered here and never forwarded
    '--bogus-priv',
    '--expand-hosts',
    '--dhcp-ignore-names',
    // Leases only for the MACs rig planned (dhcp-host lines, by MAC alone: id:*), each its own fixed address: a
    // node that sends other MACs or client ids gets nothing, and cannot empty a pool, as there is none.
    `--dhcp-range=${a.dhcpFirst},static,${a.netmask},12h`,
    '--dhcp-ignore=tag:!known',
    // An internal rig has no way out: offer no default route. Otherwise the bridge (Docker's gateway) routes.
    net.internal ? '--dhcp-option=option:router' : `--dhcp-option=option:router,${a.gateway}`,
    '--dhcp-authoritative',
    '--no-ping', // the pool is ours alone; the ICMP probe only slows every lease down
    '--dhcp-leasefile=/var/lib/misc/dnsmasq.leases',
    '--log-dhcp',
    // An internal rig forwards no query out of the machine; otherwise use the resolvers Docker gave the container.
    ...(net.internal ? ['--no-resolv'] : []),
  ];
}

/** The dnsmasq options that depend on the rig's nodes, kept in the sidecar's state directory. */
export const NODES_CONF = 'misc/rig-nodes.conf';
const NODES_CONF_IN_SIDECAR = '/var/lib/misc/rig-nodes.conf';

/**
 * dnsmasq's options for the rig's nodes, one per line as in its config file. Each node's name is pinned to its
 * planned MAC, and names clients send are ignored (--dhcp-ignore-names): a node cannot take another's name in DNS
 * by sending it over DHCP. Each node's address is reserved for it too, so that the live names it mirrors can be
 * answered with it.
 */
export function nodesConf(plan: Plan, addresses: Map<string, string>): string {
  const addressOf = (fqdn: string) => addresses.get(fqdn)!;
  return [
    "# The rig's nodes, written by rig (up, and up of an edited rig file).",
    ...plan.nodes.map((n) => `dhcp-host=${n.mac},id:*,${n.spec.shortName},${addressOf(n.spec.name)}`),
    ...liveNameOptions(plan, addressOf),
    '',
  ].join('\n');
}

/**
 * Live names, answered as production code asks for them: the live FQDN of every mirrored node resolves to the
 * node(s) mirroring it (A only: reverse lookups keep the made-up name), its short name through the resolver's
 * search list (the live domains follow the rig's), and any other name under a live domain is NXDOMAIN at once:
 * a test rig never reaches production by name, unless the rig file lets that name through (network.forward).
 */
function liveNameOptions(plan: Plan, addressOf: (fqdn: string) => string): string[] {
  const mirrored = plan.nodes.flatMap((n) => (n.spec.mirrors ? [{ live: n.spec.mirrors, address: addressOf(n.spec.name) }] : []));
  const domains = [...new Set(mirrored.map((m) => m.live.slice(m.live.indexOf('.') + 1)).filter((d) => d && d !== plan.spec.domain))];
  return [
    ...mirrored.map((m) => `address=/${m.live}/${m.address}`),
    ...domains.map((d) => `local=/${d}/`),
    ...plan.spec.network.forward.map((name) => `server=/${name}/#`),
    `dhcp-option=option:domain-search,${[plan.spec.domain, ...domains].join(',')}`,
  ];
}

/**
 * Each node's address: the one it has (a node a reconcile keeps keeps its address), else the first of the DHCP
 * pool that no node had, in node order. `kept` is by MAC, as the sidecar's config has it.
 */
export function assignAddresses(plan: Plan, a: RigAddresses, kept = new Map<string, string>()): Map<string, string> {
  const taken = new Set(kept.values()); // a removed node's too: its lease may outlive it
  const assigned = new Map<string, string>();
  for (const node of plan.nodes) {
    const address = kept.get(node.mac);
    if (address) assigned.set(node.spec.name, address);
  }
  let next = 0;
  for (const node of plan.nodes.filter((n) => !assigned.has(n.spec.name))) {
    while (taken.has(nodeAddress(a, next))) next++;
    assigned.set(node.spec.name, nodeAddress(a, next));
    taken.add(nodeAddress(a, next));
  }
  return assigned;
}

export function etcdCommand(net: SidecarNetwork): string[] {
  return [
    'etcd',
    '--name=rig',
    '--data-dir=/var/lib/etcd/rig',
    // The nodes' way in, and the host's: a Unix socket in etcd's data directory (the sidecar's working directory,
    // on the host's tmpfs), served before the sidecar is on the rig bridge, so rig locks etcd down sooner.
    `--listen-client-urls=http://0.0.0.0:2379,unix://${ETCD_SOCKET}`,
    `--advertise-client-urls=http://${net.addresses.etcd}:2379`,
    '--listen-peer-urls=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=rig=http://127.0.0.1:2380',
    '--logger=zap',
    // One member on one machine: elect it at once rather than after the default one-second election timeout. etcd
    // fast-forwards all but one tick of a random timeout of 1 to 2 election timeouts, so a member elects itself
    // 1 to 6 ticks of 2 ms after it starts (with 10 and 100 ms: 10 to 110 ms). The smallest timeout etcd takes
    // is 5 heartbeats; a lone member has no peer to send them to, and its ticks cost next to nothing.
    '--heartbeat-interval=2',
    '--election-timeout=10',
    // Auth is on (each node writes only its own keys): the cheapest bcrypt etcd allows, as passwords are random
    // and the sidecar is reachable only on the rig bridge, and a node's token lasts as long as a rig does.
    '--bcrypt-cost=4',
    '--auth-token-ttl=86400',
  ];
}

/** etcd's Unix socket for the host, named relative to the sidecar's working directory (etcd's data directory). */
export const ETCD_SOCKET = 'client:2379';

export const etcdUrl = (net: { addresses: RigAddresses }) => `http://${net.addresses.etcd}:2379`;
