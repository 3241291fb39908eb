import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, RigError } from '../../errors.js';
import { nodeSettingsHash, REPO_MOUNT } from '../../plan/plan.js';
import {
  logTail,
  type AttachStreams,
  type ExecResult,
  type LineSink,
  type LogOptions,
  type NodeBackend,
  type NodeInstance,
  type NodeLaunch,
  type PowerAction,
  type StoredImage,
} from '../backend.js';
import type { ImageFiles } from '../runtime.js';
import { paced, pacedRemoval } from '../pacing.js';
import { nodeWiring } from '../veth.js';
import { splitEnv } from '../lxc/config.js';
import { streamConsoleLog } from '../lxc/console-log.js';
import { LxdClient } from './api.js';
import { execStreamed } from './exec-stream.js';
import { followEvents, instanceOf } from './events.js';
import { pushFile } from './files.js';
import { nodeConfig, nodeMarks, nodeOf } from './node-config.js';
import { NodeImages } from './node-images.js';
import { LxdError } from './transport.js';

export interface LxdOptions {
  socket: string; // the local daemon's Unix socket
  cacheDir: string; // rig's cache: the tools, and the nodes' console logs (lxd-console/<instance>)
  toolsImage: string;
  baseImage: string;
  baseRootfs: string;
}

/** How long a node's agent has to release its lease when it is stopped, before LXD stops it at once. */
const HALT_MS = 2_000;

/**
 * Nodes as containers of the LXD daemon on this host, over its REST API (no `lxc` client): each one from rig's node
 * image imported once into LXD's image store, its NIC on the rig's own bridge (Docker's, served by the Docker
 * sidecar) with its planned MAC and host interface, rig's tools and the rig file's directory as read-only disks, and
 * rig's agent as init. Its marks (user.rig.* config keys) say whose node it is; nothing without them is touched.
 */
export class LxdNodes implements NodeBackend {
  readonly kind = 'lxd' as const;
  private readonly client: LxdClient;
  private readonly images: NodeImages;
  private tools?: Promise<string>;

  constructor(
    private readonly files: ImageFiles,
    private readonly options: LxdOptions,
  ) {
    this.client = LxdClient.connect({ socket: options.socket });
    this.images = new NodeImages(this.client, files, options);
  }

  /** Before anything is made: an LXD daemon answers on the socket, and it has a storage pool for the nodes' roots. */
  async check(): Promise<void> {
    const { socket } = this.options;
    const how = `start one: lxd --group root & lxd waitready, then lxd init (a storage pool; no network needed) — rig's scripts/lxd-host up does both; or use backend: docker`;
    try {
      await this.client.server(5_000);
    } catch (err) {
      throw new RigError(`No LXD daemon answers on ${socket}, and this rig has LXD nodes.`, how, ExitCode.badInput, { cause: err });
    }
    const pools = (await this.client.transport.json<string[]>('GET', '/1.0/storage-pools')).metadata;
    if (!pools.length) throw new RigError(`The LXD daemon on ${socket} has no storage pool for nodes.`, how, ExitCode.badInput);
  }

  prepare(): Promise<string> {
    this.tools ??= this.files.tools(this.options.toolsImage, this.options.cacheDir);
    return this.tools;
  }

  private consoleDir(name: string): string {
    return join(this.options.cacheDir, 'lxd-console', name);
  }

  async launch({ rig, node, bridge, image, env, repoDir, links, mayStart, networkReady, signal }: NodeLaunch): Promise<void> {
    const [toolsDir, alias] = await Promise.all([this.prepare(), this.images.alias(image)]);
    const name = node.container; // the plan names it as LXD allows (no dot): plan.ts, nodeName
    const { config: configEnv, file: envFile } = splitEnv({ ...env, RIG_LOG_STAMPS: '1' }); // its console log has times
    const consoleDir = this.consoleDir(name);
    mkdirSync(consoleDir, { recursive: true });
    const systemd = node.spec.init === 'systemd';
    const { config, devices } = nodeConfig({
      hostname: node.spec.shortName,
      bridge,
      hostInterface: nodeWiring(rig, node.spec.name).hostInterface,
      mac: node.mac,
      toolsDir,
      repoDir,
      repoMount: REPO_MOUNT,
      env: configEnv,
      consoleLog: join(consoleDir, 'console.log'),
      systemd,
      // Privileged, as rig's LXC nodes are: an unprivileged node sees the host's files of its disks as `nobody`, and its
      // root could not read a repository of mode 0700 (LXD 5.0.2 cannot shift a disk here: "idmapping abilities are
      // required"). Unprivileged nodes ran as well here (systemd too, HOST-NOTES), and were no faster to make.
      privileged: true,
    });
    const marks = nodeMarks({
      rig,
      node: node.spec.name,
      mirrors: node.spec.mirrors,
      roles: node.spec.roles,
      validate: node.spec.validate,
      validateTimeout: node.spec.validateTimeout,
      update: node.spec.update,
      settings: nodeSettingsHash(node.spec),
      links,
      systemd,
    });
    // Never into an instance that exists: it may not be ours. LXD refuses a second one of a name (HTTP 409).
    const exists = () =>
      new RigError(
        `An LXD instance named ${name} already exists.`,
        `remove it (lxc delete --force ${name}), or rename the node ${node.spec.name}`,
        ExitCode.badInput,
      );
    if (await this.client.instance(name)) throw exists();
    try {
      await paced(() => this.client.createInstance({ name, alias, config: { ...config, ...marks }, devices }), { signal });
    } catch (err) {
      throw err instanceof LxdError && err.status === 409 ? exists() : err;
    }
    await Promise.all([
      pushFile(this.client, name, '/etc/hostname', `${node.spec.shortName}\n`),
      pushFile(this.client, name, '/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'),
      ...(envFile ? [pushFile(this.client, name, '/.rig-env', envFile, { mode: 0o600 })] : []),
    ]);
    // LXD puts the NIC on the bridge as the container starts, and the agent asks for its lease at once.
    await Promise.all([mayStart, networkReady]);
    try {
      await paced(() => this.client.setState(name, 'start'), { signal });
    } catch (err) {
      throw new RigError(
        `LXD could not start it: ${lxdSays(err)}`, // the engine names the node and its instance
        `see its log: lxc info --show-log ${name}`,
        ExitCode.failed,
        {
          cause: err,
        },
      );
    }
  }

  async list(rig?: string): Promise<NodeInstance[]> {
    if (!existsSync(this.options.socket)) return []; // no LXD daemon here: it has no nodes (a Docker-only host lists its rigs)
    const instances = await this.client.rigInstances(rig);
    return instances.flatMap((i) => nodeOf(i, rig) ?? []);
  }

  async removeAll(rig: string): Promise<void> {
    await Promise.all((await this.list(rig)).map((n) => this.remove(n)));
  }

  /** Stop the node (its agent releases its lease; LXD stops it at once after HALT_MS) and delete it, paced as Docker's removes. */
  async remove(instance: NodeInstance): Promise<void> {
    await pacedRemoval(async () => {
      await this.halt(instance.name);
      await this.client.deleteInstance(instance.name);
    });
    rmSync(this.consoleDir(instance.name), { recursive: true, force: true });
  }

  /** A stop as `down` makes it: SIGTERM (lxc.signal.halt), then at once if it is not stopped in HALT_MS. */
  private async halt(name: string): Promise<void> {
    const found = await this.client.instance(name);
    if (!found || found.status === 'Stopped') return;
    if (found.status === 'Frozen') await this.client.setState(name, 'unfreeze');
    // A stop that times out (the agent did not end) is made at once below.
    await this.client.setState(name, 'stop', false, HALT_MS).catch(() => this.client.setState(name, 'stop', true));
  }

  async power(instance: NodeInstance, action: PowerAction): Promise<void> {
    const { name, node } = instance;
    try {
      await paced(async () => {
        if (action === 'stop') await this.halt(name);
        else if (action === 'start') await this.client.setState(name, 'start');
        else if (action === 'kill') await this.client.setState(name, 'stop', true);
        else await this.client.setState(name, action === 'pause' ? 'freeze' : 'unfreeze');
      });
    } catch (err) {
      throw new RigError(`LXD could not ${action} ${node}: ${lxdSays(err)}`, `see its state with: lxc info ${name}`, ExitCode.failed, {
        cause: err,
      });
    }
  }

  storedImages(): Promise<StoredImage[]> {
    return existsSync(this.options.socket) ? this.images.list() : Promise.resolve([]); // no LXD daemon here: no images in it
  }

  removeStoredImage(ref: string): Promise<void> {
    return this.images.remove(ref);
  }

  async initPid(instance: NodeInstance): Promise<number | undefined> {
    const { status, pid } = await this.client.state(instance.name);
    return status === 'Running' && pid > 0 ? pid : undefined;
  }

  async exec(instance: NodeInstance, command: string[]): Promise<ExecResult> {
    const { exitCode, stdout, stderr } = await this.client.exec(instance.name, command).catch(notRunning(instance));
    return { exitCode, output: stdout + stderr };
  }

  /** A command over LXD's exec websockets; with a terminal, one stream both ways, its size this terminal's. */
  async attach(instance: NodeInstance, command: string[], { stdin, stdout, stderr, tty }: AttachStreams): Promise<number> {
    const out = stdout as NodeJS.WriteStream;
    const exec = await execStreamed(this.client, instance.name, command, {
      terminal: tty ? { width: out.columns || 80, height: out.rows || 24 } : undefined,
      onStdout: (data) => stdout.write(data),
      onStderr: (data) => stderr.write(data),
    }).catch(notRunning(instance));
    const resize = () => exec.resize(out.columns || 80, out.rows || 24);
    if (tty) out.on?.('resize', resize);
    if (stdin) {
      stdin.on('data', (chunk: Buffer) => exec.write(chunk));
      stdin.on('end', () => exec.closeStdin());
    } else exec.closeStdin();
    try {
      return await exec.exitCode;
    } finally {
      if (tty) out.off?.('resize', resize);
    }
  }

  /** Call `onDeath` with a node's name whenever one of the rig's LXD nodes stops (LXD's lifecycle events); resolves, once listening, to a stop. */
  async watchDeaths(rig: string, onDeath: (node: string) => void): Promise<() => void> {
    if (!existsSync(this.options.socket)) return () => {}; // no LXD daemon here: no LXD node can die
    const stream = await followEvents(this.client, ['lifecycle'], (event) => {
      // stopped at once (a kill, or its init ended) or shut down (asked to stop): a death either way
      const action = event.metadata.action;
      const name = action === 'instance-stopped' || action === 'instance-shutdown' ? instanceOf(event) : undefined;
      if (!name) return;
      this.client
        .instance(name)
        .then((found) => {
          const node = found && nodeOf(found, rig);
          if (node) onDeath(node.node);
        })
        .catch(() => {}); // deleted meanwhile (rig down): not a death to tell
    });
    return () => stream.stop();
  }

  /**
   * The console log, which LXC writes on this host for LXD (raw.lxc: lxc.console.logfile, rotated as an LXC node's),
   * read and followed as an LXC node's is (inotify, no polling): the agent's lines carry their times.
   */
  streamLogs(instance: NodeInstance, options: LogOptions, onLine: LineSink, signal: AbortSignal): Promise<void> {
    return streamConsoleLog(this.consoleDir(instance.name), options, onLine, signal);
  }

  logs(instance: NodeInstance): Promise<string> {
    const options = { follow: false, tail: 1000, timestamps: false };
    return logTail((onLine) => this.streamLogs(instance, options, onLine, new AbortController().signal));
  }
}

/** LXD's refusal of an exec in a node that is not running, in the user's words (any other error as it is). */
const notRunning =
  ({ node }: NodeInstance) =>
  (err: unknown): never => {
    if (err instanceof LxdError && /not running/i.test(err.lxdMessage))
      throw new RigError(`${node} is not running.`, `start it: rig start ${node.split('.')[0]}`, ExitCode.badInput, { cause: err });
    throw err;
  };

/** What LXD said, without the request it answered. */
const lxdSays = (err: unknown) => (err instanceof LxdError ? err.lxdMessage : err instanceof Error ? err.message : String(err));
