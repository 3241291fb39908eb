/**
 * What a backend declares of itself: data, read by the rig file's schema, the engine and the CLI alike (no code of
 * the backend's is loaded to read it). Each backend's is in its folder (runtime/<kind>/kind.ts); the registry is
 * runtime/kinds.ts.
 */
export interface BackendDeclaration<Kind extends string = string> {
  /** As a rig file names it: `backend: <kind>`. */
  kind: Kind;
  /** Its nodes' container names are names in the container engine rig runs its sidecar in: taken ones are refused before up. */
  namesInEngine: boolean;
  /**
   * How its nodes are named (the plan's container name: every message, `up --dry-run`, the reaper's remove): rig's
   * `rig-<rig>.<node>`, or, where a dot is not allowed (LXD), `rig-<rig>-<node>-<digest>` (plan.ts: nodeName).
   */
  nodeNames: 'rig-<rig>.<node>' | 'rig-<rig>-<node>-<digest>';
  /** How Ansible reaches its nodes (rig inventory's ansible_connection). */
  ansibleConnection: string;
  /** Instead, where the inventory knows a node's init PID: a connection that enters its namespaces from the host by it. */
  ansibleConnectionByPid?: string;
  /** More host variables its connection needs. */
  ansibleVars?: Readonly<Record<string, string | boolean>>;
  /**
   * Its nodes' eth0 is a veth this host's engine puts on the rig bridge, and a node loses it when it stops: the engine
   * wires it again when the node starts (a drill, the keeper, a restore). False: the backend keeps its own wiring.
   */
  wiredByHost: boolean;
  /**
   * The L2 segment its nodes can share: `docker` (a bridge the Docker engine makes, with the Docker sidecar) or `lxd`
   * (an LXD managed bridge, with the sidecar as an LXD instance). A rig whose every node is on an `lxd` backend gets
   * an LXD segment and needs no Docker at run time; any other rig gets Docker's (plan.ts: segmentOf).
   */
  segment: Segment;
}

export type Segment = 'docker' | 'lxd';
