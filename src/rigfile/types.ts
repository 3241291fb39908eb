import type { INITS } from './schema-parts.js';
import type { BackendKind } from '../runtime/kinds.js';

export type { BackendKind } from '../runtime/kinds.js';

/** PID 1 of a node: rig's agent itself, or systemd with rig's agent as one of its services. */
export type InitKind = (typeof INITS)[number];

/** A tree of live node configs to mirror: `dir/file` with {node} replaced by a node name. */
export interface ConfigTree {
  dir: string; // absolute
  file: string; // template containing "{node}", e.g. "{node}.yaml"
}

/** One provisioning step, run inside the node after its facts are published. Paths are absolute on the host. */
export type ProvisionStep =
  | { kind: 'shell'; script: string; changedExit?: number } // changedExit: the exit code by which it says it changed something
  | { kind: 'script'; path: string; changedExit?: number }
  | { kind: 'puppet'; manifest: string; modulepath?: string; hieraConfig?: string }
  | { kind: 'ansible'; playbook: string }; // run by the host (ansible-playbook over the rig inventory), not in the node

/**
 * One step of a node's update (rig update): a shell command run in the node, or a playbook run from the host,
 * its path relative to the rig file's directory. Recorded on the node in this form (io.rig.update), so `rig update`
 * needs no rig file: it finds the playbook from the rig file's directory the rig records.
 */
export type UpdateStep = string | { ansible: string };

/** A node waits, before provisioning, until `node` is ready, or until its `fact` exists. */
export interface Need {
  node: string; // fqdn
  fact?: string;
}

/**
 * What a node does, once ready, when a peer changes (issue 22.1): its agent follows the peer's keys in etcd itself.
 * change: a peer's fact written with a new value; stage: a peer's stage changes (lost: its alive key went). run:
 * the node's own provisioning again, or steps of its own.
 */
export type Reaction = ({ change: { node: string; fact: string } } | { stage: string }) & { run: 'provision' | ProvisionStep[] };

/**
 * An image a rig file builds (build:), as Compose builds one: a context directory with a Dockerfile, built locally
 * by the Docker engine. `hash` stands for everything sent to the build, so a node's settings change with it.
 */
export interface BuildSpec {
  context: string; // absolute
  dockerfile: string; // relative to the context, with / separators
  args: Record<string, string>;
  bases: Array<{ name: string; line: number }>; // rig's own images the Dockerfile's FROM lines name (rig:NAME), with their lines
  hash: string; // of the context's files as sent (.dockerignore applied; paths, modes, contents), the Dockerfile and the args
  line: number; // where build: is in the rig file
}

export interface NodeSpec {
  name: string; // fully qualified made-up name, e.g. barn.village.test
  shortName: string; // barn
  mirrors?: string; // live node it copies, e.g. straleb.prod.example
  backend: BackendKind;
  target?: string; // an LXD node's cluster member: its own lxd.target, else the rig-wide one; undefined: placed by rig
  targetLine?: number; // where that target is written (not a setting: moving it in the file changes nothing)
  image?: string; // undefined: rig's own locally built Debian image (rig:base, or rig:systemd for init: systemd)
  build?: BuildSpec; // instead of image: the image the rig file builds
  init: InitKind;
  facts: Record<string, string>; // custom facts: rig-wide merged with per node; non-strings JSON-encoded
  provision: ProvisionStep[]; // the node's own steps, else the rig-wide ones
  needs: Need[];
  reactions: Reaction[]; // its own on:, else the rig-wide one (less its reactions to itself)
  validate: string[]; // shell commands that check the node from inside (rig test)
  validateTimeout?: number; // seconds each validate command may take (validate_timeout); undefined: rig's default
  update: UpdateStep[]; // how the node is updated in place (rig update), then validate checks it
  roles: string[]; // inventory groups, published as the roles fact
  line: number; // where the node is declared, for later error messages
}

export interface NetworkSpec {
  subnet?: string; // IPv4 CIDR; undefined: allocate from pool
  pool: string; // IPv4 CIDR to allocate /24s from
  internal: boolean; // no route out of the machine
  forward: string[]; // names under a live domain that the rig's DNS may forward upstream (all others: NXDOMAIN)
}

/** Where a rig's LXD nodes go (lxd:), with where the rig file says so: LXD is asked only by `up`, which names those lines. */
export interface LxdSpec {
  remote?: string; // a remote of the lxc client, by name; undefined: this host's daemon (its Unix socket)
  project?: string; // undefined: the remote's own project in lxc's config, else LXD's default
  lines: { lxd: number; remote?: number; project?: number };
}

export interface RigSpec {
  file: string; // absolute path of the rig file
  dir: string; // the rig file's directory: mounted read-only in every node at /.rig-repo
  name: string;
  domain: string;
  image?: string;
  network: NetworkSpec;
  configs: ConfigTree[];
  factsFrom?: ConfigTree & { hardware: boolean }; // where the live nodes' production facts are: dir, file template ({node}); hardware too?
  lxd?: LxdSpec; // as the rig file's lxd: says; undefined: none
  nodes: NodeSpec[];
  warnings: string[]; // what is allowed but likely a mistake, each with file:line (printed by up and check)
}
