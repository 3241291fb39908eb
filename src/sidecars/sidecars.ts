import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';
import { RigError } from '../errors.js';
import { Label } from '../labels.js';
import { nodeAddress, type Plan, type RigAddresses } from '../plan/plan.js';
import type { RigNetwork } from '../runtime/docker/network.js';
import { containerLog, tail, waitForLog, watchLog } from '../runtime/docker/containers.js';
import { makeVeth, moveIntoNode, removeVeth } from '../runtime/veth.js';

/**
 * dnsmasq serves the rig's DHCP and DNS: leases from the rig subnet, names under the rig domain, reverse lookups.
 * What depends on the rig's nodes is in a file of its own (nodesConf), so that a reconcile can change it.
 */
function dnsmasqCommand(plan: Plan, net: RigNetwork): string[] {
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
    `--dhcp-range=${a.dhcpFirst},${a.dhcpLast},${a.netmask},12h`,
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
const NODES_CONF = 'misc/rig-nodes.conf';
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
    ...plan.nodes.map((n) => `dhcp-host=${n.mac},${n.spec.shortName},${addressOf(n.spec.name)}`),
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

/** The addresses the sidecar's config reserves, by MAC; undefined for a sidecar made before the config was a file. */
export function reservedAddresses(labels: Record<string, string>): Map<string, string> | undefined {
  const path = join(labels[Label.state] ?? '', NODES_CONF);
  if (!labels[Label.state] || !existsSync(path)) return undefined;
  const reserved = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^dhcp-host=([0-9a-f:]+),[^,]*,([0-9.]+)$/.exec(line);
    if (match) reserved.set(match[1], match[2]);
  }
  return reserved;
}

/**
 * Give the sidecar's dnsmasq a new config for the rig's nodes (a reconcile): the file is replaced whole, then
 * rig-sidecar restarts dnsmasq on SIGHUP (leases are kept in their file). Resolves once the new dnsmasq serves.
 */
export async function reloadNodesConf(
  docker: Docker,
  sidecar: { id: string; labels: Record<string, string> },
  conf: string,
): Promise<void> {
  const path = join(sidecar.labels[Label.state], NODES_CONF);
  writeFileSync(`${path}.new`, conf);
  renameSync(`${path}.new`, path);
  const served = await watchLog(docker, sidecar.id, [/DHCP, IP range/], 10_000, { newOnly: true });
  await docker.getContainer(sidecar.id).kill({ signal: 'SIGHUP' });
  await served();
}

function etcdCommand(net: RigNetwork): string[] {
  return [
    'etcd',
    '--name=rig',
    '--data-dir=/var/lib/etcd/rig',
    '--listen-client-urls=http://0.0.0.0:2379',
    `--advertise-client-urls=http://${net.addresses.etcd}:2379`,
    '--listen-peer-urls=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=rig=http://127.0.0.1:2380',
    '--logger=zap',
    // One member on one machine: elect it at once rather than after the default one-second election timeout.
    '--heartbeat-interval=10',
    '--election-timeout=100',
    // Auth is on (each node writes only its own keys): the cheapest bcrypt etcd allows, as passwords are random
    // and the sidecar is reachable only on the rig bridge, and a node's token lasts as long as a rig does.
    '--bcrypt-cost=4',
    '--auth-token-ttl=86400',
  ];
}

export const etcdUrl = (net: RigNetwork) => `http://${net.addresses.etcd}:2379`;

/**
 * Create the rig's sidecar container (not started). Its name is the rig's: the engine lets only one container
 * have it, so whoever creates it owns the rig name (see engine/up.ts).
 */
export async function createSidecar(docker: Docker, plan: Plan, net: RigNetwork, image: string, etcdRootPassword: string): Promise<string> {
  const a = net.addresses;
  const prefix = a.subnet.split('/')[1];
  const state = join(SIDECAR_STATE_ROOT, `${plan.name}.${randomBytes(6).toString('hex')}`);
  for (const dir of ['etcd', 'misc']) mkdirSync(join(state, dir), { recursive: true, mode: 0o700 });
  writeFileSync(join(state, NODES_CONF), nodesConf(plan, assignAddresses(plan, a)));
  return docker
    .createContainer({
      name: plan.sidecar.container,
      Image: image,
      Entrypoint: ['/usr/local/bin/rig-sidecar'],
      Cmd: [...dnsmasqCommand(plan, net), '--', ...etcdCommand(net)],
      Hostname: 'rig-sidecar',
      Env: [`RIG_ADDRESSES=${a.dnsmasq}/${prefix} ${a.etcd}/${prefix}`, ...(net.internal ? [] : [`RIG_GATEWAY=${a.gateway}`])],
      // The root password of the rig's etcd, for later rig commands on the host; nodes cannot read labels.
      Labels: { [Label.rig]: plan.name, [Label.role]: 'sidecar', [Label.etcdRoot]: etcdRootPassword, [Label.state]: state },
      HostConfig: {
        NetworkMode: 'none',
        CapAdd: ['NET_ADMIN'], // eth0's addresses, and dnsmasq's DHCP replies to clients that have no address yet
        Mounts: [
          { Type: 'bind', Source: join(state, 'etcd'), Target: '/var/lib/etcd' },
          { Type: 'bind', Source: join(state, 'misc'), Target: '/var/lib/misc' }, // dnsmasq's leases
        ],
        Init: false,
      },
    })
    .then((container) => container.id)
    .catch((err: Error) => {
      rmSync(state, { recursive: true, force: true });
      throw err;
    });
}

/**
 * Where a sidecar keeps etcd's data and dnsmasq's leases: on the host's tmpfs, as fast as the container's own, but
 * outliving a restart of the sidecar, so a rig keeps its facts and leases. One directory per sidecar, named on
 * its label; `down` removes it.
 */
const SIDECAR_STATE_ROOT = '/dev/shm/rig';

export function removeSidecarState(labels: Record<string, string>): void {
  const state = labels[Label.state];
  if (state && dirname(state) === SIDECAR_STATE_ROOT) rmSync(state, { recursive: true, force: true });
}

/**
 * Start the rig's sidecar (made by createSidecar): dnsmasq and etcd (images/sidecar/rig-sidecar). Like a node it
 * has no Docker network: its veth goes on the rig bridge, with dnsmasq's and etcd's fixed addresses on it.
 * `started` is called once the container runs (the engine can take the nodes then), `wired` once its veth is
 * in; the promise resolves when both daemons say they serve.
 */
export async function startSidecar(
  docker: Docker,
  plan: Plan,
  net: RigNetwork,
  id: string,
  started = () => {},
  wired = () => {},
): Promise<void> {
  const container = docker.getContainer(id);
  const veth = makeVeth(net.bridge, plan.sidecar.hostInterface, plan.sidecar.mac);
  veth.catch(() => {}); // awaited below
  try {
    const starting = container.start();
    started(); // the engine takes the nodes' starts while it starts this one: it serves them side by side
    await starting;
    const [{ State }] = await Promise.all([container.inspect(), veth]);
    if (!State.Running) throw new Error(`stopped at once; its log ends:\n${tail(await containerLog(docker, container.id, 20))}`);
    await moveIntoNode(State.Pid, plan.sidecar.hostInterface);
    wired();
    await waitForLog(docker, container.id, [/DHCP, IP range/, /serving client traffic|ready to serve client requests/], 30_000);
  } catch (err) {
    await veth.catch(() => {}); // made or not, it is gone after this: nothing rig makes is left half made
    await removeVeth(plan.sidecar.hostInterface);
    throw new RigError(
      `The sidecar ${plan.sidecar.container} (dnsmasq and etcd) ${(err as Error).message}`,
      `see its whole log with: docker logs ${plan.sidecar.container} (run up with --keep-on-failure to keep it)`,
      undefined,
      { cause: err },
    );
  }
}

/** The rig's sidecar as the engine drives it (the Docker engine's; a fake in unit tests). */
export interface Sidecars {
  /** Create it, not started; the rig's name taken by another's sidecar rejects with a conflict (isConflict). */
  create(plan: Plan, net: RigNetwork, etcdRootPassword: string): Promise<string>;
  /** Start it (see startSidecar); resolves once dnsmasq and etcd serve. */
  start(plan: Plan, net: RigNetwork, id: string, started: () => void, wired: () => void): Promise<void>;
  /** Give its dnsmasq a new node config (see reloadNodesConf). */
  reload(sidecar: { id: string; labels: Record<string, string> }, conf: string): Promise<void>;
}

export function dockerSidecars(docker: Docker, image: string): Sidecars {
  return {
    create: (plan, net, password) => createSidecar(docker, plan, net, image, password),
    start: (plan, net, id, started, wired) => startSidecar(docker, plan, net, id, started, wired),
    reload: (sidecar, conf) => reloadNodesConf(docker, sidecar, conf),
  };
}
