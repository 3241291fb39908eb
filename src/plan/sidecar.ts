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
    // Its log is a pipe that the engine drains when it can: a write that waits would hold up every lease behind it
    // (a 200-node rig's acks came seconds late, after the nodes had given up). Lines queue, and a full queue drops.
    '--log-async=100',
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

/** The addresses a nodes config (nodesConf) reserves, by MAC. */
export function reservedInConf(conf: string): Map<string, string> {
  const reserved = new Map<string, string>();
  for (const line of conf.split('\n')) {
    const match = /^dhcp-host=([0-9a-f:]+),(?:id:\*,)?[^,]*,([0-9.]+)$/.exec(line);
    if (match) reserved.set(match[1], match[2]);
  }
  return reserved;
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

/**
 * etcd's command line, then `--` and the command line of rig-etcd-proxy, the nodes' way in (rig-sidecar runs both).
 * etcd serves its Unix socket (the host as root, and the proxy) and 127.0.0.1; the proxy serves the rig's etcd
 * address and holds each node to NODE_ETCD_LIMITS. etcd's own bounds (ETCD_STORE) hold for everyone.
 */
export function etcdCommand(net: SidecarNetwork): string[] {
  return [
    'etcd',
    '--name=rig',
    '--data-dir=/var/lib/etcd/rig',
    // The host's way in: a Unix socket in etcd's data directory (the sidecar's working directory, on the host's
    // tmpfs), served before the sidecar is on the rig bridge, so rig locks etcd down sooner. The nodes' way in is
    // the proxy, on the rig bridge's :2379, which reaches etcd on that socket too (a quarter less CPU a request
    // than TCP over lo). etcd serves nothing else but lo.
    `--listen-client-urls=http://127.0.0.1:2379,unix://${ETCD_SOCKET}`,
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
    // Room for a rig, on the host's tmpfs (RAM): see ETCD_STORE.
    `--quota-backend-bytes=${ETCD_STORE.quotaBytes}`,
    '--auto-compaction-mode=periodic',
    `--auto-compaction-retention=${ETCD_STORE.historyHours}h`,
    `--snapshot-count=${ETCD_STORE.snapshotCount}`,
    `--max-wals=${ETCD_STORE.maxWals}`,
    '--',
    'rig-etcd-proxy',
    `--listen=${net.addresses.etcd}:2379`,
    `--etcd=unix:${ETCD_SOCKET}`,
    ...Object.entries(NODE_ETCD_LIMITS).map(([name, value]) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}=${value}`),
  ];
}

/** etcd's Unix socket for the host, named relative to the sidecar's working directory (etcd's data directory). */
export const ETCD_SOCKET = 'client:2379';

export const etcdUrl = (net: { addresses: RigAddresses }) => `http://${net.addresses.etcd}:2379`;

/**
 * What each node may do with the rig's etcd: rig-etcd-proxy (images/sidecar), on the nodes' side of :2379, holds
 * them to these (see the README's "Quotas on the rig's etcd"). Bytes are decoded bytes of keys and values.
 */
export const NODE_ETCD_LIMITS = {
  maxBody: 1024 * 1024, // one request, as sent
  maxKey: 1024, // one key
  maxValue: 64 * 1024, // one value
  maxKeys: 512, // keys under a node's own prefix, /rig/<rig>/nodes/<fqdn>/, whoever wrote them
  budget: 1024 * 1024, // a node's writes: a burst of this many bytes...
  refill: 1024, // ...then this many a second
  opCost: 128, // what each operation (a put, a delete, a compare, a transaction, a login) costs on top
  maxConns: 32, // open connections per node
  maxWatches: 16, // open watches per node
  leaseMinTtl: 2, // the one lease a node may hold (its agent's, for its alive key: TTL 9 s, up to 60 in a big rig)...
  leaseMaxTtl: 60, // ...of this TTL, in seconds...
  keepalives: 5, // ...kept alive at most this many times a second (each charged as an operation)
} as const;

/**
 * The bounds of the rig's etcd itself (the proxy's limits keep each node far inside them). Its store (bbolt) may
 * grow to quotaBytes, past which etcd refuses every write (its NOSPACE alarm), the host's too: 256 MiB is some
 * hundred times a normal rig's facts and history, and what 1 MiB and then 1 KiB/s from each node could write in
 * days. History older than historyHours is compacted away (hourly), so a node writing all it may still levels
 * off (a day at 1 KiB/s: 86 MB); a rig's ups, provisions and watches need minutes of it. etcd keeps its log (the
 * WAL, 64 MB files, preallocated) until a snapshot covers it: one every snapshotCount entries (etcd's default is
 * 100000) and maxWals files kept (default 5) bound the WAL at about (maxWals + 1) files. Requests stay within
 * etcd's default --max-request-bytes (1.5 MiB): nodes' are cut at NODE_ETCD_LIMITS.maxBody before they get there,
 * and the host's own (production facts) may need the rest.
 */
export const ETCD_STORE = {
  quotaBytes: 256 * 1024 * 1024,
  historyHours: 24,
  snapshotCount: 10_000,
  maxWals: 2,
} as const;
