import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ExitCode, RigError } from '../../errors.js';
import { nodeSettingsHash, REPO_MOUNT } from '../../plan/plan.js';
import {
  LineSplitter,
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
      hostInterface: node.hostInterface,
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

/** How much of a console log is read at once. */
const READ_SIZE = 64 * 1024;
/** What a backward read takes: a chunk, and a stamp that may begin at its end. */
const BUFFER_SIZE = READ_SIZE + 64;

/** One file of a node's console log, open: LXC's rotated one (console.log.1) or the one it writes (console.log). */
interface LogPart {
  handle: FileHandle;
  ino: number;
  size: number; // when it was opened
  born?: number; // when the file was made (unix seconds, where the filesystem says): no line in it is older
}

/** A place in a console log: a part (by index) and a byte offset in it. */
interface LogPosition {
  part: number;
  offset: number;
}

/** A node's console log, as NodeBackend.streamLogs (see LxcNodes.streamLogs). */
async function streamConsoleLog(dir: string, options: LogOptions, onLine: LineSink, signal: AbortSignal): Promise<void> {
  if (options.tail === 0 && !options.follow) return;
  const file = join(dir, 'console.log');
  const changes = options.follow ? watchLog(dir, signal) : undefined; // before the first read: nothing is missed
  const parts = await openLog(file);
  const shown = consoleLines(options, onLine);
  const lines = new LineSplitter(shown.sink);
  const into = Buffer.allocUnsafe(BUFFER_SIZE);
  const follow = (at?: { part: LogPart; offset: number }) =>
    followLog(file, at, changes!, { lines, notBefore: shown.notBefore, into }, signal);
  try {
    if (parts.length) {
      const from = options.tail === undefined ? { part: 0, offset: 0 } : await tailStart(parts, options.tail, into);
      if (options.since !== undefined || options.timestamps) shown.notBefore(await timeBefore(parts[from.part], from.offset, into));
      let offset = from.offset;
      for (let i = from.part; i < parts.length; i++) {
        if (i > from.part) shown.notBefore(parts[i].born, lines.holding);
        offset = await readFrom(parts[i], i > from.part ? 0 : offset, lines, signal, into);
      }
      if (!changes) return await lines.end();
      const [last] = parts.splice(-1); // the older parts are read; the one LXC writes is followed (and closed) from here
      await follow({ part: last, offset });
    } else if (changes) await follow();
  } finally {
    changes?.close();
    await Promise.all(parts.map((p) => p.handle.close().catch(() => {}))); // a read-only handle: nothing is lost if close fails
  }
}

/**
 * The console log's lines as `rig logs` shows them: without the "\r" the console (a terminal) puts before each "\n",
 * without the agent's times unless --timestamps, and from --since on.
 */
function consoleLines(options: LogOptions, onLine: LineSink): { sink: LineSink; notBefore: NotBefore } {
  let last: number | undefined; // no line from here on is older: the time of the line before, or when its file was begun
  let [stamp, stampTime] = ['', 0]; // the last time read, parsed: a second's lines share it
  let begun: number | undefined; // when the file the next line ends in was begun: for the lines after it
  const show = (raw: string) => {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const time = stampOf(text);
    if (time) {
      if (time !== stamp) [stamp, stampTime] = [time, Date.parse(time) / 1000];
      last = stampTime;
    }
    if (options.since !== undefined && (last === undefined || last < options.since)) return;
    const line = time ? text.slice(STAMP_LENGTH) : text;
    return onLine(options.timestamps && last !== undefined ? `${time ?? isoSeconds(last)} ${line}` : line);
  };
  const sink: LineSink = (raw) => {
    if (begun === undefined) return show(raw);
    const wait = show(raw); // the line that went on into a new file began in the one before: its time is of that one
    notBefore(begun);
    begun = undefined;
    return wait;
  };
  const notBefore: NotBefore = (time, afterNextLine = false) => {
    if (afterNextLine) begun = time;
    else if (time !== undefined && (last === undefined || time > last)) last = time;
  };
  return { sink, notBefore };
}

/** No line from here on (or after the line under way, which began before) is older than `time`. */
type NotBefore = (time: number | undefined, afterNextLine?: boolean) => void;

const isoSeconds = (unix: number) => new Date(Math.floor(unix) * 1000).toISOString().replace('.000Z', 'Z');

/** The agent's time at the start of a line ("2026-11-24T07:30:00Z text"), or undefined (systemd's, LXC's lines). */
function stampOf(text: string): string | undefined {
  // A look at three characters first: a flood of lines without a time costs no regex each.
  if (text.charCodeAt(20) !== 32 || text.charCodeAt(19) !== 90 || text.charCodeAt(10) !== 84) return undefined;
  const time = text.slice(0, STAMP_LENGTH - 1);
  return STAMP_TIME.test(time) ? time : undefined;
}

/** The agent's time before a line of its own, and its length with the blank after it. */
const STAMP_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const STAMP_LENGTH = 21;

async function openPart(path: string): Promise<LogPart | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined; // not there (yet, or any more)
  }
  const stat = await handle.stat();
  return { handle, ino: stat.ino, size: stat.size, born: stat.birthtimeMs > 0 ? stat.birthtimeMs / 1000 : undefined };
}

/**
 * A node's console log as its parts, oldest first. console.log is opened first: should LXC rotate it before
 * console.log.1 is opened, both name one file, read once (what came before it is gone then, as after any rotation).
 */
async function openLog(file: string): Promise<LogPart[]> {
  const current = await openPart(file);
  const rotated = await openPart(`${file}.1`);
  if (rotated && current && rotated.ino === current.ino) {
    await rotated.handle.close();
    return [current];
  }
  return [rotated, current].filter((p): p is LogPart => p !== undefined);
}

/** Up to `length` bytes of a part from `position`, into `into` (one buffer read into again and again: no garbage). */
async function readAt(part: LogPart, position: number, length: number, into: Buffer): Promise<Buffer> {
  const { bytesRead } = await part.handle.read(into, 0, Math.min(length, into.length), position);
  return into.subarray(0, bytesRead);
}

/** A part from `offset` to its end (the one LXC writes: as far as it is written now) into `lines`; returns where it ended. */
async function readFrom(part: LogPart, offset: number, lines: LineSplitter, signal: AbortSignal, into: Buffer): Promise<number> {
  while (!signal.aborted) {
    const buf = await readAt(part, offset, READ_SIZE, into);
    if (!buf.length) break;
    offset += buf.length;
    await lines.push(buf);
  }
  return offset;
}

/**
 * Where the last `n` lines of the log begin (a last line without its "\n" counts, and with n = 0 it is where following
 * begins: a line is not shown from its middle), read backwards from its end.
 */
async function tailStart(parts: LogPart[], n: number, into: Buffer): Promise<LogPosition> {
  let atEnd = true; // the log's last byte: a "\n" there ends the last line, it does not begin one
  for (let part = parts.length - 1; part >= 0; part--) {
    for (let end = parts[part].size; end > 0;) {
      const start = Math.max(0, end - READ_SIZE);
      const buf = await readAt(parts[part], start, end - start, into);
      let below = buf.length;
      if (atEnd && buf.length) {
        atEnd = false;
        if (buf[buf.length - 1] !== 10)
          n = Math.max(n, 1); // --tail 0 -f: a line still being written comes whole
        else if (n === 0) return { part, offset: start + buf.length };
        else below--;
      }
      for (let nl = below > 0 ? buf.lastIndexOf(10, below - 1) : -1; nl !== -1; nl = nl > 0 ? buf.lastIndexOf(10, nl - 1) : -1) {
        if (--n === 0) return { part, offset: start + nl + 1 };
      }
      end = start;
    }
  }
  return { part: 0, offset: 0 };
}

/**
 * The time no line from `offset` on in this part is older than: the agent's time on the last line before it that has
 * one, read backwards, else when the part was begun.
 */
async function timeBefore(part: LogPart, offset: number, into: Buffer): Promise<number | undefined> {
  for (let end = offset; end > 0;) {
    const start = Math.max(0, end - READ_SIZE);
    const buf = await readAt(part, start, Math.min(end + STAMP_LENGTH, part.size) - start, into); // a stamp may run past `end`
    const stampAt = (at: number) => stampOf(buf.toString('latin1', at, at + STAMP_LENGTH));
    for (let nl = buf.lastIndexOf(10, end - start - 1); nl !== -1; nl = nl > 0 ? buf.lastIndexOf(10, nl - 1) : -1) {
      const time = start + nl + 1 < offset ? stampAt(nl + 1) : undefined;
      if (time) return Date.parse(time) / 1000;
    }
    const first = start === 0 ? stampAt(0) : undefined;
    if (first) return Date.parse(first) / 1000;
    end = start;
  }
  return part.born;
}

/** Changes to a node's console log files, told by the kernel (inotify on its dir); `next` resolves false once over. */
function watchLog(dir: string, signal: AbortSignal): { next: () => Promise<boolean>; close: () => void } {
  let dirty = true;
  let over = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    dirty = true;
    wake?.();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, (_event, name) => (!name || String(name).startsWith('console.log') ? poke() : undefined));
    watcher.on('error', () => ((over = true), poke()));
  } catch {
    over = true; // the node is gone: its log with it
  }
  signal.addEventListener('abort', poke, { once: true });
  const next = () =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        wake = undefined;
        if (signal.aborted || over) resolve(false);
        else if (dirty) resolve(!(dirty = false));
        else wake = check;
      };
      check();
    });
  return { next, close: () => (watcher?.close(), signal.removeEventListener('abort', poke)) };
}

/**
 * Follow console.log from `at` (read up to there) as LXC appends to it, on into the new console.log it begins when it
 * rotates, until `signal` or the node is gone. LXC closes the old file before it renames it: once a new one is there,
 * the old one is read to its end, then a file rotated in between (console.log.1, if neither), then the new one.
 */
async function followLog(
  file: string,
  at: { part: LogPart; offset: number } | undefined,
  changes: { next: () => Promise<boolean> },
  { lines, notBefore, into }: { lines: LineSplitter; notBefore: NotBefore; into: Buffer },
  signal: AbortSignal,
): Promise<void> {
  let current = at;
  try {
    while (await changes.next()) {
      if (current) current.offset = await readFrom(current.part, current.offset, lines, signal, into);
      const now = await stat(file).catch(() => undefined);
      if (!now) {
        if (!existsSync(dirname(file))) return; // the node is gone
        continue; // between LXC's rename and its new console.log
      }
      if (current && now.ino === current.part.ino) {
        if (now.size < current.offset) current.offset = await readFrom(current.part, 0, lines, signal, into); // begun anew
        continue;
      }
      const next = await openPart(file);
      if (!next) continue;
      if (current) {
        await readFrom(current.part, current.offset, lines, signal, into); // what LXC wrote before it let go of it
        await current.part.handle.close();
        const between = await openPart(`${file}.1`);
        if (between && between.ino !== current.part.ino && between.ino !== next.ino) {
          notBefore(between.born, lines.holding);
          await readFrom(between, 0, lines, signal, into);
        }
        await between?.handle.close();
      }
      current = { part: next, offset: 0 };
      notBefore(next.born, lines.holding);
      current.offset = await readFrom(next, 0, lines, signal, into);
    }
  } finally {
    await current?.part.handle.close().catch(() => {}); // a read-only handle: nothing is lost if close fails
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
