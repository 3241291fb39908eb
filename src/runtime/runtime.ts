import type { RigContainer } from './docker/containers.js';
import type { NetworkRequest, RigNetwork } from './docker/network.js';

/**
 * What the engine asks of the container engine and the host for a rig's shared parts (its network, the sidecar,
 * the host ends of its wiring), found by the rig's labels alone. Nodes are the backends' (NodeBackend). The Docker
 * engine's implementation is in runtime/docker/runtime.ts; an in-memory one lets unit tests run the engine's
 * decisions (down, the reaper) with no engine and no root.
 */
export interface RigRuntime {
  /** The rig networks (of one rig, or of all). */
  networks(rig?: string): Promise<RigNetwork[]>;
  /** Containers carrying a rig's label (of one rig, or of all): its sidecar, Docker nodes, short-lived helpers. */
  containers(rig?: string): Promise<RigContainer[]>;
  /** Remove a container; one already gone, or going, counts as removed. */
  removeContainer(id: string): Promise<void>;
  /** Remove a rig network; containers that are not rig's, attached to it, are disconnected and their names returned. */
  removeNetwork(id: string): Promise<string[]>;
  /** Remove a network this process made, and its own firewall rule (another process may own the rig's name). */
  removeOwnNetwork(id: string, rig: string): Promise<void>;
  /** Containers of any owner whose name is one of `names`, with the rig whose label they carry (if any). */
  containersNamed(names: string[]): Promise<Array<{ name: string; rig?: string }>>;
  imageExists(ref: string): Promise<boolean>;
  /** Whether the image holds any of these files (looked into through a container made, never started). */
  imageHasFile(ref: string, paths: string[]): Promise<boolean>;
  /** Create a rig network on a free subnet (or the one asked for), with its firewall rule when it is internal. */
  createNetwork(request: NetworkRequest): Promise<RigNetwork>;
  /** Call `onDeath` with the node's name whenever a container of the rig dies; resolves, once listening, to a stop. */
  watchDeaths(rig: string, onDeath: (node: string) => void): Promise<() => void>;
  /** Remove these veth host ends, where still there (a node removed alone). */
  removeHostInterfaces(hostInterfaces: string[]): Promise<void>;
  /** Remove what the host has of a rig's wiring: these veth host ends (where still there), and its firewall rules. */
  removeWiring(rig: string, hostInterfaces: string[]): Promise<void>;
}
