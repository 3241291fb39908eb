import type { BackendKind } from '../rigfile/types.js';
import type { PlannedNode } from '../plan/plan.js';

/** What a backend needs to start one node: where it goes and what its agent is told. */
export interface NodeLaunch {
  rig: string;
  node: PlannedNode;
  bridge: string; // the rig bridge the node's eth0 is on
  image: string;
  env: Record<string, string>; // the agent's environment
  repoDir: string; // the rig file's directory, mounted read-only at /.rig-repo (scripts, manifests, hiera data)
  links: LinkRecord[]; // symlinks made for this node alone (by a reconcile), recorded on it so that `down` removes them
  mayStart: Promise<void>; // a backend may create the node before, but starts it only after (the sidecar starts first)
  networkReady: Promise<void>; // and wires it to the bridge only after this
}

/** A symlink rig made, as it records it. */
export interface LinkRecord {
  path: string;
  target: string;
}

/** A node as a backend sees it, found by the rig's marks alone. */
export interface NodeInstance {
  rig: string;
  node: string; // fqdn
  backend: BackendKind;
  name: string; // container name
  running: boolean;
  mirrors?: string;
  validate?: string[]; // the node's own checks (rig test), carried by the node itself
  update?: string[]; // how the node is updated in place (rig update), carried by the node itself
  settings?: string; // the hash of the settings it was made with (nodeSettingsHash)
  links?: LinkRecord[]; // symlinks made for it alone (NodeLaunch.links)
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

/** What of a node's log to show: the last `tail` lines (all: undefined), then, with `follow`, what comes. */
export interface LogOptions {
  follow: boolean;
  tail?: number;
  since?: number; // unix seconds
  timestamps: boolean;
}

/** A command's streams, as it runs: stdin passed on if given, stdout and stderr apart, or one terminal (tty). */
export interface AttachStreams {
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  tty: boolean;
}

/** One way of running nodes (Docker containers, LXC containers). Sidecars and the bridge are shared by all backends. */
export interface NodeBackend {
  readonly kind: BackendKind;
  /** Before anything of a rig is made: fail with a clear RigError if this host cannot run such nodes (tools, root). */
  check?(): Promise<void>;
  /** Create the node, start it and, once networkReady, put its eth0 on the rig bridge. The node takes it from there. */
  launch(launch: NodeLaunch): Promise<void>;
  /** Remove the rig's nodes of this backend. */
  removeAll(rig: string): Promise<void>;
  /** Stop one node (its agent releases its lease) and remove it. */
  remove(instance: NodeInstance): Promise<void>;
  list(rig?: string): Promise<NodeInstance[]>;
  exec(instance: NodeInstance, command: string[]): Promise<ExecResult>;
  /** Run a command in the node with its output streamed as it comes; resolves to its exit code. */
  attach(instance: NodeInstance, command: string[], streams: AttachStreams): Promise<number>;
  logs(instance: NodeInstance): Promise<string>;
  /** Stream the node's log, a line at a time; ends when the log does (not following: at once), or on `signal`. */
  streamLogs(instance: NodeInstance, options: LogOptions, onLine: (line: string) => void, signal: AbortSignal): Promise<void>;
}
