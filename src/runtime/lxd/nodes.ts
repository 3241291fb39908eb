import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, RigError } from '../../errors.js';
import { nodeSettingsHash, REPO_MOUNT, type Plan } from '../../plan/plan.js';
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
import { execStreamed } from './exec-stream.js';
import { followEvents, instanceOf } from './events.js';
import { pushFile } from './files.js';
import type { Instance } from './api.js';
import { deleteWhenFree, haltInstance, STOPPING_MS } from './stopping.js';
import { nodeConfig, nodeMarks, nodeOf } from './node-config.js';
import { checkPlace, DEFAULT_PROJECT, placeKey, type LxdPlace } from './places.js';
import { resolveRemote } from './remotes.js';
import { refuseUnwired } from './unwired.js';
import { LxdSites, type Site } from './sites.js';
import { LxdError, noAnswer } from './transport.js';

export interface LxdOptions {
  socket: string; // the local daemon's Unix socket
  lxcConf: string; // the lxc client's config (its remotes and certificates): where a rig file's lxd.remote is found
  cacheDir: string; // rig's cache: the tools, and the nodes' console logs (lxd-console/<instance>)
  toolsImage: string;
  baseImage: string;
  baseRootfs: string;
  /** The members of a remote see this host's files at the same paths (RIG_LXD_SHARED_FILES=1: members on this host). */
  sharedFiles?: boolean;
}

/**
 * Nodes as containers of the LXD daemon on this host, over its REST API (no `lxc` client): each one from rig's node
 * image imported once into LXD's image store, its NIC on the rig's own bridge (Docker's, served by the Docker
 * sidecar) with its planned MAC and host interface, rig's tools and the rig file's directory as read-only disks, and
 * rig's agent as init. Its marks (user.rig.* config keys) say whose node it is; nothing without them is touched.
 */
export class LxdNodes implements NodeBackend {
  readonly kind = 'lxd' as const;
  private readonly sites: LxdSites;
  private readonly placements = new Map<string, Map<string, string>>(); // by rig: node -> member, as checked
  private tools?: Promise<string>;

  constructor(
    private readonly files: ImageFiles,
    private readonly options: LxdOptions,
    sites?: LxdSites, // shared with LXD's other roles (place-roles.ts), so a rig's network and sidecar go to its place
  ) {
    this.sites = sites ?? new LxdSites(files, options);
  }

  /**
   * Before anything is made: the LXD the rig file names answers (this host's daemon by default) with a storage pool
   * for the nodes' roots, its project is there, each target: is an online member; then where each node goes.
   */
  async check(plan: Plan, options?: { dryRun?: boolean }): Promise<void> {
    const { spec } = plan;
    const lines = { file: spec.file, ...spec.lxd?.lines };
    const at = `${spec.file}:${lines.remote ?? lines.lxd ?? 1}: lxd.remote`;
    const remote = resolveRemote(spec.lxd?.remote, { socket: this.options.socket, lxcConf: this.options.lxcConf, at });
    // the project as resolved (the rig file's, else the remote's own, else default): a place is recorded as it is
    const project = spec.lxd?.project ?? remote.project ?? DEFAULT_PROJECT;
    const named = spec.lxd?.remote;
    const place: LxdPlace = { ...(named && { remote: named, lxcConf: this.options.lxcConf }), project };
    const site = this.sites.at(place);
    const how = `start one: lxd --group root & lxd waitready, then lxd init (a storage pool; no network needed) — rig's scripts/lxd-host up does both; or use backend: docker`;
    if (remote.name === 'local') {
      try {
        await site.client.server(5_000);
      } catch (err) {
        throw new RigError(`No LXD daemon answers on ${remote.where}, and this rig has LXD nodes.`, how, ExitCode.badInput, { cause: err });
      }
    }
    const recorded = this.sites.book.get(plan.name);
    if (recorded && placeKey(recorded) !== placeKey(place) && Object.keys(recorded.nodes ?? {}).length) {
      const where = (p: LxdPlace) => `${p.remote ?? 'local'}${p.project ? ` (project ${p.project})` : ''}`;
      throw new RigError(
        `${spec.file}:${lines.lxd ?? 1}: lxd: rig ${plan.name} has LXD nodes on ${where(recorded)}, and the rig file now puts them on ${where(place)}.`,
        `take the rig down first (rig down --name ${plan.name}), then up again`,
        ExitCode.badInput,
      );
    }
    const placed = await checkPlace(remote, site.project, plan, lines);
    const pools = (await site.client.transport.json<string[]>('GET', '/1.0/storage-pools')).metadata;
    if (!pools.length) throw new RigError(`The LXD at ${remote.where} has no storage pool for nodes.`, how, ExitCode.badInput);
    if (!options?.dryRun) refuseUnwired(plan, remote, project, this.options);
    this.sites.choose(plan.name, place);
    // A rig on a remote has its network and sidecar there too: recorded before they are made, so that the reaper and
    // down, after an up that died before its first node, look for them there (and not on this host's daemon).
    if (!options?.dryRun && place.remote !== undefined) this.sites.book.record(plan.name, place);
    this.placements.set(plan.name, placed);
  }

  placement(rig: string): ReadonlyMap<string, string> {
    return this.placements.get(rig) ?? new Map();
  }

  prepare(): Promise<string> {
    this.tools ??= this.files.tools(this.options.toolsImage, this.options.cacheDir);
    return this.tools;
  }

  private consoleDir(name: string): string {
    return join(this.options.cacheDir, 'lxd-console', name);
  }

  async launch({ rig, node, bridge, image, env, repoDir, links, mayStart, networkReady, signal }: NodeLaunch): Promise<void> {
    const site = this.sites.of(rig);
    const { client } = site;
    const [toolsDir, alias] = await Promise.all([this.prepare(), site.images.alias(image)]);
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
    if (await client.instance(name)) throw exists();
    this.sites.record(rig, name, node.spec.name);
    const target = this.placements.get(rig)?.get(node.spec.name) ?? node.spec.target;
    try {
      await paced(() => client.createInstance({ name, alias, config: { ...config, ...marks }, devices, target }), { signal });
    } catch (err) {
      throw err instanceof LxdError && err.status === 409 ? exists() : err;
    }
    await Promise.all([
      pushFile(client, name, '/etc/hostname', `${node.spec.shortName}\n`),
      pushFile(client, name, '/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'),
      ...(envFile ? [pushFile(client, name, '/.rig-env', envFile, { mode: 0o600 })] : []),
    ]);
    // LXD puts the NIC on the bridge as the container starts, and the agent asks for its lease at once.
    await Promise.all([mayStart, networkReady]);
    try {
      await paced(() => client.setState(name, 'start'), { signal });
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

  /** The nodes (of one rig, or of all) in every place this host knows of, each with the member it is on. */
  async list(rig?: string): Promise<NodeInstance[]> {
    // no LXD daemon here: it has no nodes (a Docker-only host lists its rigs)
    const sites = (rig === undefined ? this.sites.known() : [this.sites.of(rig)]).filter((s) => !this.sites.absent(s));
    const lists = await Promise.all(
      sites.map(async (site) => {
        // Every rig's nodes: a recorded remote that does not answer (its cluster gone), or this host's daemon not
        // answering, hides its rigs' nodes, not all rigs'; that rig's own commands (list(rig)) say why.
        const hidden = (err: unknown) => (rig === undefined ? site.place.remote !== undefined || noAnswer(err) : this.noneMade(rig, err));
        return this.nodesAt(site, rig).catch((err: unknown) => (hidden(err) ? [] : Promise.reject(err)));
      }),
    );
    return lists.flat();
  }

  private async nodesAt(site: Site, rig: string | undefined): Promise<NodeInstance[]> {
    // every instance: one whose member is offline comes with no config, so without the marks rigInstances keeps
    const [instances, lost] = await Promise.all([site.client.instances(), site.lostMembers()]);
    const nodes = instances.flatMap((i) => {
      const node = nodeOf(i, rig) ?? this.lostNode(i, rig);
      // a rig's nodes are in the place it recorded; one of its name elsewhere (another project) is not its
      return node && (rig !== undefined || placeKey(this.sites.placeOf(node.rig)) === placeKey(site.place)) ? [{ node, i }] : [];
    });
    return Promise.all(
      nodes.map(async ({ node, i }) => {
        const member = await site.memberOf(i);
        const state = lost.get(member);
        return { ...node, member, ...(state && { lost: `its member ${member} is ${state}` }) };
      }),
    );
  }

  /** A rig's node LXD lists with no config (no marks to read: its member is offline), known by this host's record. */
  private lostNode(instance: Instance, rig: string | undefined): NodeInstance | undefined {
    if (instance.config) return undefined;
    const found = this.sites.recordedNode(rig, instance.name);
    return found && { rig: found.rig, node: found.fqdn, backend: 'lxd', name: instance.name, running: false };
  }

  /**
   * Remove every node of the rig that LXD can reach; a node on a member that is not online is not tried (LXD would
   * wait on it, then fail). Those left, and those LXD failed to remove, are named in the error; the rig's place stays
   * recorded until none is left, so `down` again finds them.
   */
  async removeAll(rig: string): Promise<void> {
    const nodes = await this.list(rig);
    const reachable = nodes.filter((n) => !n.lost);
    const results = await Promise.allSettled(reachable.map((n) => this.remove(n)));
    const failed = reachable.filter((_, i) => results[i].status === 'rejected');
    const left = [...nodes.filter((n) => n.lost), ...failed];
    if (!left.length) {
      this.sites.book.forget(rig);
      return;
    }
    const why = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as unknown;
    const members = [...new Set(left.map((n) => n.member))].join(', ');
    throw new RigError(
      `rig could not remove ${left.length} LXD node${left.length > 1 ? 's' : ''} of rig ${rig}: ${left
        .map((n) => `${n.node} (instance ${n.name} on ${n.member}${n.lost ? `: ${n.lost}` : `: ${lxdSays(why)}`})`)
        .join(', ')}; the rest is removed.`,
      `run rig down --name ${rig} again once ${members} ${members.includes(',') ? 'are' : 'is'} back; for a member gone for good: lxc cluster remove --force MEMBER, then rig down --name ${rig}`,
      ExitCode.failed,
      { cause: why },
    );
  }

  /** Stop the node (its agent releases its lease; LXD stops it at once after stopping.ts's HALT_MS) and delete it, paced as Docker's removes. */
  async remove(instance: NodeInstance): Promise<void> {
    await pacedRemoval(async () => {
      await this.halt(instance);
      await deleteWhenFree(this.sites.of(instance.rig).client, instance.name);
    });
    this.sites.book.drop(instance.rig, instance.name);
    rmSync(this.consoleDir(instance.name), { recursive: true, force: true });
  }

  /** A stop as `down` makes it (stopping.ts). */
  private async halt({ rig, name }: NodeInstance): Promise<void> {
    const site = this.sites.of(rig);
    await haltInstance(site.client, name, this.sites.isLocal(site) ? 0 : STOPPING_MS);
  }

  /**
   * Whether `err` is LXD not answering about a rig this host never made an LXD node of (up records a node's place
   * before it is made): it has none, and that the daemon does not answer is no error for it.
   */
  private noneMade(rig: string, err: unknown): boolean {
    return noAnswer(err) && !this.sites.book.get(rig);
  }

  async power(instance: NodeInstance, action: PowerAction): Promise<void> {
    const { name, node } = instance;
    const { client } = this.sites.of(instance.rig);
    try {
      await paced(async () => {
        if (action === 'stop') await this.halt(instance);
        else if (action === 'start') await client.setState(name, 'start');
        else if (action === 'kill') await client.setState(name, 'stop', true);
        else await client.setState(name, action === 'pause' ? 'freeze' : 'unfreeze');
      });
    } catch (err) {
      throw new RigError(`LXD could not ${action} ${node}: ${lxdSays(err)}`, `see its state with: lxc info ${name}`, ExitCode.failed, {
        cause: err,
      });
    }
  }

  /** rig's images in this host's daemon's store (those imported into a remote's are left to that remote's own tools). */
  storedImages(): Promise<StoredImage[]> {
    const local = this.sites.at({});
    return this.sites.absent(local) ? Promise.resolve([]) : local.images.list(); // no LXD daemon here: no images in it
  }

  removeStoredImage(ref: string): Promise<void> {
    return this.sites.at({}).images.remove(ref);
  }

  async initPid(instance: NodeInstance): Promise<number | undefined> {
    const { status, pid } = await this.sites.of(instance.rig).client.state(instance.name);
    return status === 'Running' && pid > 0 ? pid : undefined;
  }

  async exec(instance: NodeInstance, command: string[]): Promise<ExecResult> {
    const { client } = this.sites.of(instance.rig);
    const { exitCode, stdout, stderr } = await client.exec(instance.name, command).catch(notRunning(instance));
    return { exitCode, output: stdout + stderr };
  }

  /** A command over LXD's exec websockets; with a terminal, one stream both ways, its size this terminal's. */
  async attach(instance: NodeInstance, command: string[], { stdin, stdout, stderr, tty }: AttachStreams): Promise<number> {
    const out = stdout as NodeJS.WriteStream;
    const exec = await execStreamed(this.sites.of(instance.rig).client, instance.name, command, {
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
    const site = this.sites.of(rig);
    if (this.sites.absent(site)) return () => {}; // no LXD daemon here: no LXD node can die
    const { client } = site;
    const follow = followEvents(client, ['lifecycle'], (event) => {
      // stopped at once (a kill, or its init ended) or shut down (asked to stop): a death either way
      const action = event.metadata.action;
      const name = action === 'instance-stopped' || action === 'instance-shutdown' ? instanceOf(event) : undefined;
      if (!name) return;
      client
        .instance(name)
        .then((found) => {
          const node = found && nodeOf(found, rig);
          if (node) onDeath(node.node);
        })
        .catch(() => {}); // deleted meanwhile (rig down): not a death to tell
    });
    const stream = await follow.catch((err: unknown) => (this.noneMade(rig, err) ? undefined : Promise.reject(err)));
    return () => stream?.stop();
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
