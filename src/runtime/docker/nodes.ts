import type Docker from 'dockerode';
import { RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { printableLines } from '../../printable.js';
import {
  logTail,
  tail,
  type AttachStreams,
  type ExecResult,
  type LineSink,
  type LinkRecord,
  type LogOptions,
  type NodeBackend,
  type NodeInstance,
  type NodeLaunch,
  type PowerAction,
} from '../backend.js';
import { makeVeth, moveIntoNode, nodeWiring, removeVeth } from '../veth.js';
import { paced, pacedRemoval } from '../pacing.js';
import { nodeSettingsHash, REPO_MOUNT } from '../../plan/plan.js';
import { unpackTools } from './unpack.js';
import { isConflict } from './connect.js';
import { watchDeaths } from './events.js';
import { NameTaken } from '../runtime.js';
import { containerLog, findRigContainers, LOG_CONFIG, removeContainer, streamContainerLog } from './containers.js';
import { recordedUpdate } from '../../rigfile/steps.js';
import { recordedRoles } from '../backend.js';

/** A whole number of seconds from a label, or undefined. */
const seconds = (label: string | undefined) => (label && /^[1-9]\d*$/.test(label) ? Number(label) : undefined);

/** How long `down` lets a systemd node halt before it is killed. */
const SYSTEMD_HALT_SECONDS = 3;

/** What systemd as PID 1 needs besides its cgroups: its own /run and /run/lock, as on a booted machine. */
const SYSTEMD_TMPFS = { '/run': 'rw,nosuid,nodev,mode=755,size=64m', '/run/lock': 'rw,nosuid,nodev,noexec,size=5m' };

/** Nodes as Docker containers: no Docker network (Docker cannot lease by DHCP), a veth on the rig bridge instead. */
export class DockerNodes implements NodeBackend {
  readonly kind = 'docker' as const;

  private tools?: Promise<string>;

  constructor(
    private readonly docker: Docker,
    private readonly toolsImage: string, // rig's node tools, mounted read-only at /.rig
    private readonly cacheDir: string,
  ) {}

  /** The tools, unpacked once into the cache (safe when two rigs start at once); bind-mounted read-only at /.rig. */
  prepare(): Promise<string> {
    this.tools ??= unpackTools(this.docker, this.toolsImage, this.cacheDir);
    return this.tools;
  }

  async launch({ rig, node, bridge, image, env, repoDir, links, mayStart, networkReady, signal }: NodeLaunch): Promise<void> {
    const spec = node.spec;
    const tools = await this.prepare();
    const systemd = spec.init === 'systemd';
    // The create begins a node's work; its start and wiring finish work under way, ahead of other nodes' creates.
    // Once started, a node is wired whatever comes (an interrupt of a reconcile leaves no running node cut off).
    const [begin, carryOn, finish] = [{ signal }, { signal, first: true }, { first: true }];
    const settings: Docker.ContainerCreateOptions = {
      name: node.container,
      Image: image,
      Hostname: spec.shortName,
      Domainname: spec.name.slice(spec.shortName.length + 1),
      User: '0', // the agent configures eth0, whatever user the image runs as
      Entrypoint: ['/.rig/bin/sh', systemd ? '/.rig/bin/rig-init' : '/.rig/bin/rig-agent'],
      Cmd: [],
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: {
        [Label.rig]: rig,
        [Label.role]: 'node',
        [Label.node]: spec.name,
        [Label.backend]: 'docker',
        ...(spec.mirrors ? { [Label.mirrors]: spec.mirrors } : {}),
        [Label.roles]: spec.roles.join(','),
        [Label.validate]: JSON.stringify(spec.validate),
        ...(spec.validateTimeout ? { [Label.validateTimeout]: String(spec.validateTimeout) } : {}),
        [Label.update]: JSON.stringify(spec.update),
        [Label.spec]: nodeSettingsHash(spec),
        ...(links.length ? { [Label.links]: JSON.stringify(links) } : {}),
        ...(systemd ? { [Label.init]: 'systemd' } : {}),
      },
      // systemd halts on SIGRTMIN+3 (stopping its units, the agent among them); the agent alone on SIGTERM.
      StopSignal: systemd ? 'SIGRTMIN+3' : 'SIGTERM',
      HostConfig: {
        NetworkMode: 'none',
        CapAdd: ['NET_ADMIN', ...(systemd ? ['SYS_ADMIN'] : [])], // the node's own DHCP client configures its eth0
        Mounts: [
          { Type: 'bind', Source: tools, Target: '/.rig', ReadOnly: true },
          { Type: 'bind', Source: repoDir, Target: REPO_MOUNT, ReadOnly: true },
          ...(systemd ? [{ Type: 'bind' as const, Source: '/sys/fs/cgroup', Target: '/sys/fs/cgroup', ReadOnly: false }] : []),
        ],
        Tmpfs: { '/run/rig': 'rw,size=16m', ...(systemd ? SYSTEMD_TMPFS : {}) },
        Init: false,
        LogConfig: LOG_CONFIG, // capped: a node that prints without end does not fill the host's disk
        // systemd manages its own part of the host's cgroup tree (under the container's cgroup, which Docker removes).
        ...(systemd ? { CgroupnsMode: 'host' } : {}),
      },
    };
    const container = await paced(() => this.docker.createContainer(settings), begin).catch((err: unknown) => {
      throw isConflict(err) ? new NameTaken(`the container name ${node.container} is taken`, { cause: err }) : err;
    });
    await mayStart;
    await paced(() => container.start(), carryOn);
    const { hostInterface } = nodeWiring(rig, spec.name);
    const [{ State }] = await Promise.all([container.inspect(), makeVeth(bridge, hostInterface, node.mac, finish)]);
    try {
      if (!State.Running)
        throw new RigError(
          `container ${node.container} stopped at once: ${printableLines(tail(await containerLog(this.docker, container.id, 20)))}`,
          `see its log: docker logs ${node.container}`,
        );
      await networkReady;
      await moveIntoNode(State.Pid, hostInterface, finish);
    } catch (err) {
      await removeVeth(hostInterface, { first: true });
      throw err;
    }
  }

  watchDeaths(rig: string, onDeath: (node: string) => void): Promise<() => void> {
    return watchDeaths(this.docker, rig, onDeath);
  }

  async removeAll(rig: string): Promise<void> {
    // Plain nodes are killed and removed at once: the rig's leases go with its dnsmasq. systemd nodes halt first
    // (SIGRTMIN+3), briefly: their units stop as on a machine that shuts down (well under a second, here).
    const nodes = (await findRigContainers(this.docker, rig)).filter((c) => c.role === 'node');
    const halt = async (c: (typeof nodes)[number]) => {
      if (c.labels[Label.init] === 'systemd' && c.state === 'running')
        // A halt that fails (the node stopped meanwhile) leaves the removal to kill it.
        await pacedRemoval(() => this.docker.getContainer(c.id).stop({ t: SYSTEMD_HALT_SECONDS })).catch(() => {});
    };
    await Promise.all(nodes.map(async (c) => (await halt(c), await removeContainer(this.docker, c.id))));
  }

  async remove(instance: NodeInstance): Promise<void> {
    // SIGTERM (or systemd's halt): the agent releases its lease before the container goes.
    const container = this.docker.getContainer(instance.name);
    await pacedRemoval(() => container.stop({ t: SYSTEMD_HALT_SECONDS })).catch(() => {}); // stopped or gone already: removed next
    await removeContainer(this.docker, instance.name);
  }

  async list(rig?: string): Promise<NodeInstance[]> {
    return (await findRigContainers(this.docker, rig))
      .filter((c) => c.role === 'node')
      .map((c) => ({
        rig: c.labels[Label.rig],
        node: c.node!,
        backend: 'docker' as const,
        name: c.name,
        running: c.state === 'running',
        paused: c.state === 'paused',
        mirrors: c.labels[Label.mirrors],
        roles: recordedRoles(c.labels[Label.roles]),
        validate: JSON.parse(c.labels[Label.validate] ?? '[]') as string[],
        validateTimeout: seconds(c.labels[Label.validateTimeout]),
        update: recordedUpdate(c.labels[Label.update]),
        settings: c.labels[Label.spec],
        links: JSON.parse(c.labels[Label.links] ?? '[]') as LinkRecord[],
      }));
  }

  async power(instance: NodeInstance, action: PowerAction): Promise<void> {
    const container = this.docker.getContainer(instance.name);
    const calls: Record<PowerAction, () => Promise<unknown>> = {
      stop: () => container.stop({ t: SYSTEMD_HALT_SECONDS }),
      start: () => container.start(),
      kill: () => container.kill({ signal: 'SIGKILL' }),
      pause: () => container.pause(),
      unpause: () => container.unpause(),
    };
    await calls[action]().catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304) throw err; // 304: already as asked (stopped, started)
    });
  }

  async initPid(instance: NodeInstance): Promise<number | undefined> {
    const { State } = await this.docker.getContainer(instance.name).inspect();
    return State.Running && State.Pid > 0 ? State.Pid : undefined;
  }

  async exec(instance: NodeInstance, command: string[]): Promise<ExecResult> {
    const exec = await this.docker.getContainer(instance.name).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    const sink = { write: (c: Buffer) => chunks.push(c) } as unknown as NodeJS.WritableStream;
    this.docker.modem.demuxStream(stream, sink, sink);
    await new Promise((resolve) => stream.on('end', resolve));
    const { ExitCode } = await exec.inspect();
    return { exitCode: ExitCode ?? 1, output: Buffer.concat(chunks).toString() };
  }

  async attach(instance: NodeInstance, command: string[], { stdin, stdout, stderr, tty }: AttachStreams): Promise<number> {
    const exec = await this.docker
      .getContainer(instance.name)
      .exec({ Cmd: command, AttachStdin: !!stdin, AttachStdout: true, AttachStderr: true, Tty: tty });
    const stream = await exec.start({ hijack: true, stdin: !!stdin, Tty: tty });
    if (tty) stream.pipe(stdout);
    else this.docker.modem.demuxStream(stream, stdout, stderr);
    if (stdin) {
      stdin.on('data', (chunk) => stream.write(chunk));
      stdin.on('end', () => (stream as unknown as { end(): void }).end()); // the command sees the end of its input
    }
    await new Promise((resolve) => stream.on('end', resolve));
    return (await exec.inspect()).ExitCode ?? 1;
  }

  streamLogs(instance: NodeInstance, options: LogOptions, onLine: LineSink, signal: AbortSignal): Promise<void> {
    return streamContainerLog(this.docker, instance.name, options, onLine, signal);
  }

  logs(instance: NodeInstance): Promise<string> {
    const options = { follow: false, tail: 1000, timestamps: false };
    return logTail((onLine) => streamContainerLog(this.docker, instance.name, options, onLine, new AbortController().signal));
  }
}
