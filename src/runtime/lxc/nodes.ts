import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
} from '../backend.js';
import type { ImageFiles } from '../runtime.js';
import { readMarker, renderConfig, splitEnv, type LxcMarker } from './config.js';
import { checkLxc, lxc } from './lxc.js';
import { paced } from '../pacing.js';
import { nodeWiring } from '../veth.js';
import { streamConsoleLog } from './console-log.js';

export interface LxcOptions {
  lxcPath: string; // where container dirs live, e.g. /var/lib/lxc
  cacheDir: string; // rig's cache: unpacked tools and root filesystems are kept there
  toolsImage: string; // rig's node tools, bind-mounted read-only at /.rig
  baseImage: string; // rig's base image; its debootstrapped root filesystem is `baseRootfs`
  baseRootfs: string;
  commonConfig: string; // LXC's shipped defaults, e.g. /usr/share/lxc/config/common.conf
  isRoot: boolean;
}

/**
 * Nodes as LXC system containers, made with the LXC tools from a config rig writes itself: the root is an
 * overlay on a cached root filesystem (the tenth node costs no more than the first), the veth is LXC's own
 * on the rig bridge, and rig's agent is init. A marker in the config says whose node it is.
 */
export class LxcNodes implements NodeBackend {
  readonly kind = 'lxc' as const;
  private tools?: Promise<string>;
  private readonly roots = new Map<string, Promise<string>>();

  constructor(
    private readonly images: ImageFiles,
    private readonly options: LxcOptions,
  ) {}

  check(): Promise<void> {
    return checkLxc(this.options.isRoot);
  }

  /** The tools, unpacked from the tools image once into the cache; returns their directory. */
  prepare(): Promise<string> {
    this.tools ??= this.images.tools(this.options.toolsImage, this.options.cacheDir);
    return this.tools;
  }

  /** A node's read-only lower root: the debootstrapped base as built, or any other image's filesystem unpacked once. */
  private rootfs(image: string): Promise<string> {
    let dir = this.roots.get(image);
    if (!dir) {
      dir = (async () => {
        const { baseImage, baseRootfs, cacheDir } = this.options;
        if (image === baseImage && existsSync(join(baseRootfs, 'etc', 'os-release'))) return baseRootfs;
        const id = await this.images.imageId(image);
        const unpacked = join(cacheDir, 'lxc-rootfs', id.replace(/^sha256:/, '').slice(0, 12));
        await this.images.unpack(image, unpacked);
        return unpacked;
      })();
      this.roots.set(image, dir);
    }
    return dir;
  }

  private dir(name: string): string {
    return join(this.options.lxcPath, name);
  }

  async launch({ rig, node, bridge, image, env, repoDir, links, networkReady, signal }: NodeLaunch): Promise<void> {
    const [toolsDir, lowerDir] = await Promise.all([this.prepare(), this.rootfs(image)]);
    const name = node.container;
    const dir = this.dir(name);
    const { config: configEnv, file: envFile } = splitEnv({ ...env, RIG_LOG_STAMPS: '1' }); // its console log has times
    const config = renderConfig({
      marker: {
        rig,
        node: node.spec.name,
        mirrors: node.spec.mirrors,
        roles: node.spec.roles,
        validate: node.spec.validate,
        validateTimeout: node.spec.validateTimeout,
        update: node.spec.update,
        settings: nodeSettingsHash(node.spec),
        links,
      },
      hostname: node.spec.shortName,
      lowerDir,
      upperDir: join(dir, 'delta0'),
      toolsDir,
      repoDir,
      repoMount: REPO_MOUNT,
      bridge,
      hostInterface: nodeWiring(rig, node.spec.name).hostInterface,
      mac: node.mac,
      env: configEnv,
      consoleLog: join(dir, 'console.log'),
      systemd: node.spec.init === 'systemd',
      commonConfig: this.options.commonConfig,
    });
    // Made under a hidden name, then renamed into place: a dir with a node's name always has its marker,
    // however `up` dies. Never into a container that exists: it may not be ours.
    const exists = () =>
      new RigError(
        `An LXC container named ${name} already exists in ${this.options.lxcPath}.`,
        `remove it (lxc-destroy -n ${name}), or rename the node ${node.spec.name}`,
        ExitCode.badInput,
      );
    if (existsSync(dir)) throw exists();
    mkdirSync(this.options.lxcPath, { recursive: true });
    const staging = mkdtempSync(join(this.options.lxcPath, `.${name}.`));
    try {
      writeFileSync(join(staging, 'config'), config);
      mkdirSync(join(staging, 'delta0', 'etc'), { recursive: true });
      writeFileSync(join(staging, 'delta0', 'etc', 'hostname'), `${node.spec.shortName}\n`);
      writeFileSync(join(staging, 'delta0', 'etc', 'hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
      if (envFile) writeFileSync(join(staging, 'delta0', '.rig-env'), envFile, { mode: 0o600 });
      if (existsSync(dir)) throw exists();
      renameSync(staging, dir);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      throw ['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '') ? exists() : err;
    }

    // LXC puts the veth on the bridge as the container starts, and the agent asks for its lease at once.
    await networkReady;
    const log = join(dir, 'lxc.log');
    const start = await paced(() => lxc('lxc-start', this.options.lxcPath, ['-n', name, '-d', '-o', log, '-l', 'INFO'], true), { signal });
    if (start.exitCode !== 0) {
      throw new RigError(
        `lxc-start failed: ${startFailure(log, start.output)} (LXC's log: ${log}, kept with --keep-on-failure)`,
        `see ${log}`,
      );
    }
  }

  async removeAll(rig: string): Promise<void> {
    await Promise.all(
      this.marked(rig).map(({ name, staged }) => (staged ? rmSync(this.dir(name), { recursive: true, force: true }) : this.destroy(name))),
    );
  }

  remove(instance: NodeInstance): Promise<void> {
    return this.destroy(instance.name);
  }

  /** Stop and destroy a node, paced as Docker's removes are (see pacing.ts). */
  private destroy(name: string): Promise<void> {
    return paced(() => this.stopAndDestroy(name));
  }

  private async stopAndDestroy(name: string): Promise<void> {
    const { lxcPath } = this.options;
    // A start still under way (its `up` was killed) finishes first; racing it, the destroy could fail.
    await lxc('lxc-wait', lxcPath, ['-n', name, '-s', 'RUNNING|STOPPED', '-t', '10'], true);
    // SIGTERM first (lxc.signal.halt): the agent releases its lease; LXC kills it after 2 s. Fails if not running.
    await lxc('lxc-stop', lxcPath, ['-n', name, '-t', '2'], true);
    const destroy = await lxc('lxc-destroy', lxcPath, ['-n', name, '-f'], true);
    if (destroy.exitCode !== 0 && existsSync(this.dir(name))) {
      throw new RigError(
        `Could not remove the LXC container ${name}: ${destroy.output.trim()}`,
        `remove it by hand: lxc-destroy -f -P ${lxcPath} -n ${name}`,
      );
    }
  }

  async list(rig?: string): Promise<NodeInstance[]> {
    const marked = this.marked(rig).filter((c) => !c.staged);
    if (!marked.length) return []; // and no LXC tool is run: a host without LXC lists Docker rigs as well
    const [running, frozen] = await Promise.all([this.runningNames(), this.runningNames('--frozen')]);
    return marked.map(({ name, marker }) => ({
      rig: marker.rig,
      node: marker.node,
      backend: 'lxc' as const,
      name,
      running: running.has(name),
      paused: frozen.has(name),
      mirrors: marker.mirrors,
      roles: marker.roles,
      validate: marker.validate,
      validateTimeout: marker.validateTimeout,
      update: marker.update,
      settings: marker.settings,
      links: marker.links,
    }));
  }

  /**
   * Containers named like a rig's node whose config carries a rig's marker (of `rig`, if given), and the
   * hidden dirs of launches killed before they renamed theirs into place (staged: never started).
   */
  private marked(rig?: string): Array<{ name: string; marker: LxcMarker; staged: boolean }> {
    let names: string[];
    try {
      names = readdirSync(this.options.lxcPath);
    } catch {
      return []; // no LXC path: no container was ever made there
    }
    return names
      .filter((name) => name.startsWith('rig-') || name.startsWith('.rig-'))
      .flatMap((name) => {
        let config: string;
        try {
          config = readFileSync(join(this.dir(name), 'config'), 'utf8');
        } catch {
          return []; // removed meanwhile, or a launch not yet written: nothing marked
        }
        const marker = readMarker(config);
        return marker && (rig === undefined || marker.rig === rig) ? [{ name, marker, staged: name.startsWith('.') }] : [];
      });
  }

  /** The containers LXC lists as running (or as `which` says: --frozen). */
  private async runningNames(which = '--running'): Promise<Set<string>> {
    const ls = await lxc('lxc-ls', this.options.lxcPath, [which, '-1'], true).catch(() => undefined);
    return new Set(ls?.exitCode === 0 ? ls.output.split('\n').map((l) => l.trim()) : []);
  }

  async power(instance: NodeInstance, action: PowerAction): Promise<void> {
    const { lxcPath } = this.options;
    const name = instance.name;
    const log = join(this.dir(name), 'lxc.log');
    const args: Record<PowerAction, [string, string[]]> = {
      stop: ['lxc-stop', ['-n', name, '-t', '2']], // SIGTERM (lxc.signal.halt), then killed after 2 s
      start: ['lxc-start', ['-n', name, '-d', '-o', log, '-l', 'INFO']], // LXC puts its veth on the bridge again
      kill: ['lxc-stop', ['-n', name, '-k']], // SIGKILL, no shutdown
      pause: ['lxc-freeze', ['-n', name]],
      unpause: ['lxc-unfreeze', ['-n', name]],
    };
    const [tool, toolArgs] = args[action];
    const result = await paced(() => lxc(tool, lxcPath, toolArgs, true));
    if (result.exitCode !== 0) {
      const failure = action === 'start' ? startFailure(log, result.output) : result.output.trim();
      throw new RigError(`${tool} of ${instance.node} failed: ${failure}`, `see its state with: lxc-info -P ${lxcPath} -n ${name}`);
    }
  }

  async exec(instance: NodeInstance, command: string[]): Promise<ExecResult> {
    // --clear-env: the node's own environment (its lxc.environment), not the caller's.
    const result = await lxc('lxc-attach', this.options.lxcPath, ['-n', instance.name, '--clear-env', '--', ...command], true);
    return { exitCode: result.exitCode, output: result.output };
  }

  /** lxc-attach with the caller's own streams: a terminal stays a terminal, stdin and stderr pass as they are. */
  async attach(instance: NodeInstance, command: string[], { stdin, stdout, stderr, tty }: AttachStreams): Promise<number> {
    // With a terminal, lxc-attach gets this process's own (it makes the node's side a terminal too). A plain spawn:
    // its streams are handed on as they are, which is all execa (0.13-0.27 s to load) would do here.
    const child = spawn('lxc-attach', ['-P', this.options.lxcPath, '-n', instance.name, '--clear-env', '--', ...command], {
      stdio: tty ? 'inherit' : [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    if (!tty) {
      if (stdin) stdin.pipe(child.stdin!);
      child.stdout!.pipe(stdout, { end: false });
      child.stderr!.pipe(stderr, { end: false });
    }
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? 1));
    });
  }

  /**
   * The console log (LXC's rotated console.log.1, then console.log), its last lines, then (following) what is
   * appended, as the kernel says it is (inotify: no polling), across LXC's rotations. Read no faster than `onLine`
   * takes the lines: never the whole log at once. The agent puts the time before each of its lines (RIG_LOG_STAMPS):
   * --since and --timestamps read it; a line without one (systemd's, LXC's, a process's own on /dev/console) takes
   * the time of the line before it, or where there is none, the time its file was begun.
   */
  streamLogs(instance: NodeInstance, options: LogOptions, onLine: LineSink, signal: AbortSignal): Promise<void> {
    return streamConsoleLog(this.dir(instance.name), options, onLine, signal);
  }

  /** The end of the console log (its last lines) as the node wrote it, without the times the agent put before its lines. */
  logs(instance: NodeInstance): Promise<string> {
    const options = { follow: false, tail: 1000, timestamps: false };
    return logTail((onLine) => this.streamLogs(instance, options, onLine, new AbortController().signal));
  }
}

/** Why a start failed: the first ERROR of the LXC log (the cause; the rest follow from it), else lxc-start's last words. */
function startFailure(log: string, output: string): string {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    // no log: LXC failed before it opened it
  }
  const cause = /^\S+ \S+ \S+ ERROR\s+\S+ - \S+ - (.*)$/m.exec(text)?.[1];
  return cause?.trim() ?? (output.trim().split('\n').pop() || 'no reason given');
}
