import type { Plan } from '../plan/plan.js';
import type { LineSink, LogOptions } from './backend.js';
import { RigError } from '../errors.js';
import type { RigAddresses } from '../plan/plan.js';
import type { GuardedPort } from './port-guard.js';
import type { Segment } from './kind.js';

/** The container engine is not there at all (no socket, nothing listening): not one that fails or hangs. */
export class EngineAbsent extends RigError {}

/** A name another container already has (a rig's sidecar, a node): how a runtime or a backend refuses to make it. */
export class NameTaken extends Error {}

/** A rig's network: the L2 segment its nodes and its sidecar share, found by the rig's labels. */
export interface RigNetwork {
  id: string;
  name: string;
  bridge: string; // the Linux bridge nodes' veths join
  internal: boolean;
  addresses: RigAddresses;
  labels: Record<string, string>;
  created?: string; // when the engine made it (ISO time), as listed
  segment?: Segment; // made by LXD (its sidecar an LXD instance); Docker's if not said
}

/** A rig network to make: its name, a subnet (or a pool to pick a free one from), and its labels. */
export interface NetworkRequest {
  name: string;
  subnet?: string;
  pool: string;
  internal: boolean;
  labels: Record<string, string>;
  segment?: Segment; // who makes it: Docker (if not said) or LXD (plan.ts: segmentOf)
}

/** A container that carries a rig's label: its sidecar, a node, a short-lived helper. */
export interface RigContainer {
  id: string;
  name: string;
  role: string;
  node?: string;
  state: string; // running, exited, created...
  labels: Record<string, string>;
}

/**
 * What the engine asks of the container engine and the host, by role, each found by the rig's labels alone: the rig
 * registry (RigRegistry), the rig's network (RigNetworks) and its sidecar (Sidecars), the host ends of its wiring
 * (HostWiring); nodes are the backends' (NodeBackend, runtime/backend.ts). The Docker engine's implementations are in
 * runtime/docker/; an in-memory one (test/unit/fake-runtime.ts) lets unit tests run the engine's decisions.
 */

/** Where rigs are found, claimed and marked: a rig is its network, and what carries its label. */
export interface RigRegistry {
  /** The rig networks (of one rig, or of all): each carries its rig's identity and marks (labels). */
  networks(rig?: string): Promise<RigNetwork[]>;
  /** Containers carrying a rig's label (of one rig, or of all): its sidecar, Docker nodes, short-lived helpers. */
  containers(rig?: string): Promise<RigContainer[]>;
  /** Remove a container; one already gone, or going, counts as removed. */
  removeContainer(id: string): Promise<void>;
  /** Containers of any owner whose name is one of `names`, with the rig whose label they carry (if any). */
  containersNamed(names: string[]): Promise<Array<{ name: string; rig?: string }>>;
  /**
   * Follow a rig's container starts (`onStart` with the container's id and labels) until its network `networkId`
   * is removed or the engine's stream ends (`onEnd`); resolves, once listening, to a stop.
   */
  watchStarts(
    rig: string,
    networkId: string,
    onStart: (id: string, labels: Record<string, string>) => void,
    onEnd: () => void,
  ): Promise<() => void>;
  /** The segment a rig about to be made goes on (plan.ts: segmentOf): every look for it goes there alone. */
  place?(rig: string, segment: Segment): void;
  /** The error to tell when `err` says the container engine went away (it stopped answering); undefined if not. */
  engineStopped(err: unknown, rig?: string): RigError | undefined;
}

/** A rig's L2 segment: the network its nodes and its sidecar share, and the port guard on it. */
export interface RigNetworks {
  /**
   * Create a rig network on a free subnet (or the one asked for). Resolves once it exists; `firewall` once its
   * firewall rule (an internal network's) is in. A rule that fails leaves the network to the caller to remove.
   */
  createNetwork(request: NetworkRequest): Promise<{ network: RigNetwork; firewall: Promise<void> }>;
  /** Remove a rig network; containers that are not rig's, attached to it, are disconnected and their names returned. */
  removeNetwork(id: string): Promise<string[]>;
  /** Remove a network this process made, and its own firewall rule and port guard (another process may own the rig's name). */
  removeOwnNetwork(id: string, rig: string): Promise<void>;
  /**
   * A subnet the rig file names must be as free as one rig picks: a route of the host over it would take the host's
   * traffic to the rig's dnsmasq and etcd elsewhere. Throws a RigError (bad input) if it is not.
   */
  checkSubnetFree(subnet: string): void;
  /**
   * Port security on a rig network (see port-guard.ts): each node's port passes only frames from its planned MAC and
   * address. Made before any node is wired; called again with every node a reconcile leaves, it replaces the rules.
   */
  guardPorts(rig: string, networkId: string, ports: GuardedPort[]): Promise<void>;
}

/** The host ends of a rig's wiring: veths this host puts on the rig bridge (for backends that declare wiredByHost). */
export interface HostWiring {
  /** A container's state: running, its init's pid, and whether it had stopped before (a restart, not a first start). */
  containerState(id: string): Promise<{ running: boolean; pid: number; stoppedBefore: boolean }>;
  /** Put a new veth (this host end and MAC) on the bridge and move its other end into the process's namespace as eth0. */
  wire(bridge: string, hostInterface: string, mac: string, pid: number): Promise<void>;
  /** Remove these veth host ends, where still there (a node removed alone). */
  removeHostInterfaces(hostInterfaces: string[]): Promise<void>;
  /** Remove what the host has of a rig's wiring: these veth host ends (where still there), its firewall rules and port guards. */
  removeWiring(rig: string, hostInterfaces: string[]): Promise<void>;
}

/** Image files on the host, for a backend that runs nodes from them (LXC): the Docker engine's images, unpacked. */
export interface ImageFiles {
  /** rig's node tools (the tools image's /rig), unpacked once into the cache; resolves to their directory. */
  tools(toolsImage: string, cacheDir: string): Promise<string>;
  /** An image's id (its content). */
  imageId(ref: string): Promise<string>;
  /** An image's whole filesystem, unpacked into `dir`. */
  unpack(ref: string, dir: string): Promise<void>;
}

/** What a sidecar's start says on its way, before it resolves. */
export interface SidecarEvents {
  /** The container runs: the engine can take the nodes' starts. */
  started?: () => void;
  /** Its veth is in: from now on it makes nothing more, it waits for its daemons. */
  wired?: () => void;
  /** etcd serves the host on `socket`, a Unix socket only the host reaches: before the rig bridge is up. */
  etcdServes?: (socket: string) => void;
  /** dnsmasq serves DHCP and DNS on the rig bridge, where the sidecar has its addresses: nodes may be wired. */
  bridgeServes?: () => void;
}

/** The rig's sidecar (dnsmasq and etcd) as the engine drives it: made, started, gated, reloaded, and its state. */
export interface Sidecars {
  /** Create it, not started; the rig's name taken by another's sidecar rejects with NameTaken. */
  create(plan: Plan, net: RigNetwork, etcdRootPassword: string): Promise<string>;
  /** Start it (see startSidecar); resolves once dnsmasq serves the bridge and etcd the host. */
  start(plan: Plan, net: RigNetwork, id: string, events?: SidecarEvents): Promise<void>;
  /**
   * Let the rig's `nodes` nodes into its etcd, which it keeps out until then (see letNodesIn); resolves once they
   * can reach it. The wait grows with `nodes`, as every wait on the engine's work for a rig does.
   */
  letNodesIn(id: string, nodes: number): Promise<void>;
  /** Give its dnsmasq a new config for `nodes` nodes (see reloadNodesConf). */
  reload(sidecar: { id: string; labels: Record<string, string> }, conf: string, nodes: number): Promise<void>;
  /** Start it again after it stopped while its rig stayed (see startSidecarAgain); resolves once it serves. */
  startAgain(id: string, timeoutMs: number): Promise<void>;
  /** The addresses its dnsmasq config reserves, by MAC (from its labels); undefined for a sidecar that keeps none (rig 0.1's). */
  reserved(labels: Record<string, string>): Map<string, string> | undefined;
  /** Remove what it keeps on the host (etcd's data, the leases), once it is removed. */
  removeState(labels: Record<string, string>): void;
  /** Call `onEvent` whenever a rig's sidecar starts or dies; resolves, once listening, to a stop. */
  watch(onEvent: (event: { rig: string; id: string; action: 'start' | 'die' }) => void): Promise<() => void>;
  /** Resolve once the sidecar has printed lines matching every pattern (its log followed); reject at the deadline. */
  waitForLog(id: string, patterns: RegExp[], timeoutMs: number): Promise<void>;
  /** Its log, a line at a time (see NodeBackend.streamLogs). */
  streamLog(id: string, options: LogOptions, onLine: LineSink, signal: AbortSignal): Promise<void>;
}
