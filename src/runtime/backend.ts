import { StringDecoder } from 'node:string_decoder';
import type { BackendKind, UpdateStep } from '../rigfile/types.js';
import type { Plan, PlannedNode } from '../plan/plan.js';

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
  signal?: AbortSignal; // the up was stopped: a call still waiting for its turn (see pacing.ts) is not made
}

/** The roles rig recorded on a node (comma-separated; names as the rig file allows them). */
export const recordedRoles = (text: string | undefined): string[] => (text ?? '').split(',').filter((r) => /^[a-z0-9_]+$/.test(r));

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
  paused?: boolean; // frozen (rig pause): its processes are stopped where they were, and it answers nothing
  mirrors?: string;
  roles?: string[]; // its roles (groups), as rig recorded them when it made the node: a node cannot change them
  validate?: string[]; // the node's own checks (rig test), carried by the node itself
  validateTimeout?: number; // how long each of them may take, in seconds, if the rig file said (validate_timeout)
  update?: UpdateStep[]; // how the node is updated in place (rig update), carried by the node itself
  settings?: string; // the hash of the settings it was made with (nodeSettingsHash)
  links?: LinkRecord[]; // symlinks made for it alone (NodeLaunch.links)
  member?: string; // the cluster member (server) it runs on, for a backend with more than one (LXD)
  lost?: string; // why it cannot be reached (its member is offline): it is neither running nor removable now
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

export type PowerAction = 'stop' | 'start' | 'kill' | 'pause' | 'unpause';

/** What of a node's log to show: the last `tail` lines (all: undefined), then, with `follow`, what comes. */
export interface LogOptions {
  follow: boolean;
  tail?: number;
  since?: number; // unix seconds
  timestamps: boolean;
}

/**
 * What a node's log may keep on disk (Docker's json-file log and LXC's console log alike): the file being written up
 * to this many megabytes (Docker counts 10^6 bytes, LXC 2^20), and the one before it; older lines are gone.
 */
export const LOG_FILE_MB = 16;

/**
 * Where a log's lines go, one at a time: it returns a promise when the reader must wait before the next line (its
 * output is full, a slow pipe), nothing when it may go on. No more of a log is read than can be written.
 */
export type LineSink = (line: string) => void | Promise<void>;

/** The longest line a log reader hands on whole; a longer one comes in pieces this long (a node cannot make rig hold a 100 MB line). */
export const MAX_LOG_LINE = 64 * 1024;

/**
 * Bytes into lines as they come (without their "\n"), each handed to a sink, waiting whenever it says so. A line over
 * `max` characters is cut; `end` hands on a last line without its "\n". Nothing of a chunk is kept as bytes once
 * `push` is done with it: a reader may read into the same buffer again.
 */
export class LineSplitter {
  private held = ''; // the start of a line whose end has not come yet
  private readonly decoder = new StringDecoder('utf8'); // a character split between two chunks stays whole

  constructor(
    private readonly sink: LineSink,
    private readonly max = MAX_LOG_LINE,
  ) {}

  async push(chunk: Buffer): Promise<void> {
    const text = this.held + this.decoder.write(chunk); // one string a chunk, lines sliced from it: lines come by the million
    this.held = '';
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const wait = nl - start > this.max ? this.pieces(text.slice(start, nl), true) : this.sink(text.slice(start, nl));
      start = nl + 1;
      if (wait) await wait;
    }
    if (start < text.length) await this.pieces(text.slice(start), false);
  }

  /** Whether the start of a line is held, its end yet to come. */
  get holding(): boolean {
    return this.held !== '';
  }

  /** The last line, if the bytes did not end with a "\n". */
  async end(): Promise<void> {
    const rest = this.held + this.decoder.end();
    this.held = '';
    if (rest) await this.pieces(rest, true);
  }

  /** A line, or its start, in pieces of at most `max`; the last piece is held back unless the line ended (`whole`). */
  private async pieces(line: string, whole: boolean): Promise<void> {
    let at = 0;
    while (line.length - at > this.max) {
      let cut = at + this.max;
      if ((line.charCodeAt(cut) & 0xfc00) === 0xdc00) cut--; // not between the two halves of a character
      await this.sink(line.slice(at, cut));
      at = cut;
    }
    if (whole) await this.sink(line.slice(at));
    else this.held = line.slice(at);
  }
}

/** A text's last lines (what a failure shows of a log). */
export const tail = (text: string, lines = 8) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** The end of a log as text: its last lines, as many as fit in `max` characters (what `up` shows of a failed node). */
export async function logTail(read: (onLine: LineSink) => Promise<void>, max = 256 * 1024): Promise<string> {
  const lines: string[] = [];
  let size = 0;
  await read((line) => {
    lines.push(line);
    size += line.length + 1;
    while (size > max && lines.length > 1) size -= lines.shift()!.length + 1;
  });
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** A command's streams, as it runs: stdin passed on if given, stdout and stderr apart, or one terminal (tty). */
export interface AttachStreams {
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  tty: boolean;
}

/** A node image in a backend's own store, made from one of the engine's images. */
export interface StoredImage {
  ref: string; // its name there (LXD: its alias, rig-base-<hash>)
  source: string; // the engine's image it was made from (rig/base:<hash>, a rig file's image: or build:)
  size: number; // bytes
  created: string;
  usedBy: string[]; // the rigs with nodes made from it
}

/**
 * One way of running nodes (Docker containers, LXC containers, LXD instances). Sidecars and the bridge are shared by
 * all backends.
 */
export interface NodeBackend {
  readonly kind: BackendKind;
  /**
   * Before anything of a rig is made (`plan`: its nodes to make): fail with a clear RigError if this host cannot run
   * such nodes (tools, root), or the rig file asks what the backend cannot do (an LXD project or member not there).
   * A dry run (`up --dry-run`) is refused what up is refused, but for what only making the nodes would fail on.
   */
  check?(plan: Plan, options?: { dryRun?: boolean }): Promise<void>;
  /** After check(plan): the member (of a cluster) each of its nodes goes on, by node name; none outside a cluster. */
  placement?(rig: string): ReadonlyMap<string, string>;
  /** Once images are built, before its first node: what its nodes need on the host (rig's tools, unpacked). */
  prepare?(): Promise<unknown>;
  /** Create the node, start it and, once networkReady, put its eth0 on the rig bridge. The node takes it from there. */
  launch(launch: NodeLaunch): Promise<void>;
  /** Call `onDeath` with a node's name whenever one of the rig's nodes of this backend dies; resolves, once listening, to a stop. */
  watchDeaths?(rig: string, onDeath: (node: string) => void): Promise<() => void>;
  /** Remove the rig's nodes of this backend. */
  removeAll(rig: string): Promise<void>;
  /** Stop one node (its agent releases its lease) and remove it. */
  remove(instance: NodeInstance): Promise<void>;
  list(rig?: string): Promise<NodeInstance[]>;
  /**
   * A failure drill on the node's container (see engine/drills.ts): stop (SIGTERM, as `down` does), start (a Docker
   * node needs its veth again: the caller's), kill (SIGKILL: a crash, nothing shut down), pause and unpause (frozen).
   */
  power(instance: NodeInstance, action: PowerAction): Promise<void>;
  exec(instance: NodeInstance, command: string[]): Promise<ExecResult>;
  /** Run a command in the node with its output streamed as it comes; resolves to its exit code. */
  attach(instance: NodeInstance, command: string[], streams: AttachStreams): Promise<number>;
  /** The end of the node's log (its last lines, a bounded amount), as text. */
  logs(instance: NodeInstance): Promise<string>;
  /**
   * Stream the node's log, a line at a time, reading no faster than `onLine` takes the lines (it may make the reader
   * wait); ends when the log does (not following: at once), or on `signal`.
   */
  streamLogs(instance: NodeInstance, options: LogOptions, onLine: LineSink, signal: AbortSignal): Promise<void>;
  /** The node images it keeps in a store of its own (LXD's: rig's imports), marked as rig's; none other is listed. */
  storedImages?(): Promise<StoredImage[]>;
  /** Remove one of those, by its ref (an image that is not rig's is never removed). */
  removeStoredImage?(ref: string): Promise<void>;
  /** The PID on this host of a running node's init, for a backend whose kind declares ansibleConnectionByPid. */
  initPid?(instance: NodeInstance): Promise<number | undefined>;
}
