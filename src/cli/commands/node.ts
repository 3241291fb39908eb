import { Writable } from 'node:stream';
import { listNodes } from '../../engine/nodes.js';
import { ExitCode, RigError } from '../../errors.js';
import type { LineSink, NodeInstance } from '../../runtime/backend.js';
import type { Engine } from '../../engine/context.js';
import { createEngine, settings } from '../engine.js';
import { whichRig } from '../which-rig.js';
import { namesNode } from '../../plan/plan.js';
import { printable } from '../../printable.js';
import { parseDuration } from '../../duration.js';
import { catchInterrupts, interruptedError, type Caught } from '../interrupts.js';
import { NodeRuns } from '../../engine/node-runs.js';
import { constants as osConstants } from 'node:os';

/** A node name that is not in the rig: the nodes it has, so the right one is one copy away. */
export function noSuchNode(node: string, rig: string | undefined, nodes: Array<{ rig: string; node: string }>): RigError {
  const listed = nodes.map((n) => (rig ? n.node : `${n.node} (rig ${n.rig})`));
  const hint = listed.length
    ? `the nodes${rig ? ` of rig ${rig}` : ' that are up'}: ${listed.join(', ')}`
    : 'no node is up; bring a rig up with: rig up RIGFILE';
  return new RigError(`No node ${printable(node)}${rig ? ` in rig ${rig}` : ' in any rig that is up'}.`, hint, ExitCode.badInput);
}

/** The nodes of a rig that mirror the live node `live`; none is bad input, naming the live nodes the rig mirrors. */
export function mirroring<T extends { node: string; mirrors?: string }>(all: T[], live: string, rig: string): T[] {
  const found = all.filter((n) => n.mirrors === live);
  if (found.length) return found;
  const lives = [...new Set(all.map((n) => n.mirrors).filter(Boolean))].sort();
  throw new RigError(
    `No node of rig ${rig} mirrors ${printable(live)}.`,
    `the live nodes it mirrors: ${lives.join(', ') || 'none'}`,
    ExitCode.badInput,
  );
}

/** A node by FQDN or short name, in the rig named (--name, else RIG_NAME), else in whichever rig has it. */
async function findNode(engine: Engine, node: string, name?: string): Promise<NodeInstance> {
  const rig = name ?? settings().rigName;
  const all = await listNodes(engine, rig);
  const found = all.filter((n) => namesNode(node, n.node));
  if (!found.length) throw noSuchNode(node, rig, all);
  if (found.length > 1) {
    const here = await whichRig(engine).catch(() => undefined); // the rig file of this directory, if any
    const mine = found.find((n) => n.rig === here);
    if (mine) return mine;
    throw new RigError(
      `${node} names nodes in ${found.length} rigs: ${found.map((n) => n.rig).join(', ')}.`,
      'say which with --name RIG (or set RIG_NAME)',
      ExitCode.badInput,
    );
  }
  return found[0];
}

export interface LogsFlags {
  name?: string;
  follow?: boolean;
  tail?: string;
  since?: string;
  timestamps?: boolean;
  sidecar?: boolean;
}

/** When --since means: a duration back from now (10m, 90s) or a time (2026-11-23T10:00:00Z), as unix seconds. */
function parseSince(text: string): number {
  const at = /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : Date.now() - parseDuration(text, '--since');
  if (Number.isNaN(at))
    throw new RigError(
      `--since ${JSON.stringify(text)} is not a time.`,
      'write a duration back from now (10m, 90s) or a time (2026-11-23T10:00:00Z)',
      ExitCode.badInput,
    );
  return Math.floor(at / 1000);
}

/**
 * rig logs: nodes' logs (their agents: DHCP, facts, stages, steps), one node as it is, several (no node: all of
 * the rig's) interleaved as lines come with the node's name before each; --sidecar adds dnsmasq's and etcd's.
 */
export async function logs(nodes: string[], flags: LogsFlags): Promise<void> {
  const tail = flags.tail === undefined ? undefined : Number(flags.tail);
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) {
    throw new RigError(`--tail ${JSON.stringify(flags.tail)} is not a number of lines.`, 'e.g. --tail 50', ExitCode.badInput);
  }
  const options = {
    follow: !!flags.follow,
    tail,
    since: flags.since === undefined ? undefined : parseSince(flags.since),
    timestamps: !!flags.timestamps,
  };
  const engine = await createEngine();
  let instances: NodeInstance[];
  let rig: string;
  if (nodes.length) {
    instances = await Promise.all(nodes.map((n) => findNode(engine, n, flags.name)));
    rig = instances[0].rig;
  } else {
    rig = await whichRig(engine, flags.name);
    instances = flags.sidecar ? [] : await listNodes(engine, rig);
    if (!instances.length && !flags.sidecar)
      throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig ls', ExitCode.badInput);
  }
  type Source = { label: string; stream: (onLine: LineSink, signal: AbortSignal) => Promise<void> };
  const sources: Source[] = instances.map((i) => ({
    label: i.node.split('.')[0],
    stream: (onLine, signal) => engine.backends[i.backend]!.streamLogs(i, options, onLine, signal),
  }));
  if (flags.sidecar) {
    const sidecar = (await engine.rigs.containers(rig)).find((c) => c.role === 'sidecar');
    if (!sidecar) throw new RigError(`Rig ${rig} has no sidecar.`, 'see the rigs with: rig ls', ExitCode.badInput);
    sources.push({ label: 'sidecar', stream: (onLine, signal) => engine.sidecars.streamLog(sidecar.id, options, onLine, signal) });
  }
  const width = Math.max(...sources.map((s) => s.label.length));
  // What a node logs is its own: shown escaped to a person, exact to a pipe.
  const show = process.stdout.isTTY ? printable : (line: string) => line;
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const out = stdoutLines(() => stop.abort());
  await Promise.all(
    sources.map((s) => {
      const label = sources.length > 1 ? `${s.label.padEnd(width)} | ` : '';
      return s.stream((line) => out.line(label, show(line)), stop.signal);
    }),
  );
  await out.end(); // all of it out before rig exits (process.exit drops what a pipe has not taken yet)
}

/** `text` into `buf` at `at` as UTF-8; returns where it ends. A short line of ASCII byte by byte: lines come by the million. */
function put(buf: Buffer, at: number, text: string): number {
  if (text.length > 16) return at + buf.write(text, at);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return at - i + buf.write(text, at - i);
    buf[at++] = code;
  }
  return at;
}

/** How much rig's stdout gathers before it writes. */
const OUT_CHUNK = 64 * 1024;

/**
 * rig's stdout for lines that come fast: gathered in buffers of OUT_CHUNK (written when full, or as soon as no more
 * comes at once), and while a slow reader has not taken what was written, `line` says to wait ('drain'): the logs are
 * read no faster than they are printed. A reader that goes away (EPIPE) calls `gone`; what comes after is dropped.
 */
function stdoutLines(gone: () => void): { line: (label: string, text: string) => void | Promise<void>; end: () => Promise<void> } {
  const out = process.stdout;
  const spare: Buffer[] = []; // buffers written out, to be filled again
  let buf: Buffer = Buffer.allocUnsafe(OUT_CHUNK);
  let used = 0;
  let scheduled = false;
  let broken = false;
  let full: Promise<void> | undefined;
  out.on('error', () => {
    broken = true;
    gone();
  });
  const untilDrained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done).off('close', done);
        full = undefined;
        resolve();
      };
      out.on('drain', done).on('close', done);
    });
  const send = (data: Buffer | string, written?: () => void) => {
    if (!out.write(data, written)) full ??= untilDrained();
  };
  const flush = () => {
    scheduled = false;
    if (!used || broken) return;
    const [filled, length] = [buf, used];
    [buf, used] = [spare.pop() ?? Buffer.allocUnsafe(OUT_CHUNK), 0];
    send(filled.subarray(0, length), () => spare.push(filled));
  };
  const line = (label: string, text: string) => {
    if (broken) return;
    const most = (label.length + text.length) * 3 + 1; // UTF-8 bytes, at most
    if (OUT_CHUNK - used < most) flush();
    if (OUT_CHUNK < most) send(`${label}${text}\n`);
    else {
      if (label) used += buf.write(label, used);
      used = put(buf, used, text);
      buf[used++] = 10;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
    return full;
  };
  const end = () =>
    new Promise<void>((resolve) => {
      flush();
      if (broken) resolve();
      else out.write('', () => resolve());
    });
  return { line, end };
}

// No command: a login shell, bash where the node has it.
const LOGIN_SHELL = ['/bin/sh', '-c', 'command -v bash >/dev/null 2>&1 && exec bash -l; exec sh -l'];

/**
 * Run a command in a node, like docker exec: stdout and stderr apart and as they come, stdin with -i, a terminal
 * with -t (both by default when rig's own stdin is a terminal); exits with the command's exit code.
 */
export async function exec(
  node: string,
  command: string[],
  flags: { name?: string; interactive?: boolean; tty?: boolean; all?: boolean; role?: string },
): Promise<void> {
  const terminal = !!process.stdin.isTTY;
  if (flags.tty && !terminal) {
    throw new RigError(
      "-t asks for a terminal, but rig's stdin is not one.",
      'run it from a terminal, or leave out -t (with -i alone, stdin still reaches the command)',
      ExitCode.badInput,
    );
  }
  const engine = await createEngine();
  if (flags.all || flags.role) return execOnMany(engine, [node, ...command], flags);
  const instance = await findNode(engine, node, flags.name);
  if (!instance.running || instance.paused) throw notRunning(instance);
  const tty = flags.tty ?? terminal;
  const interactive = flags.interactive ?? terminal;
  if (tty && interactive && process.stdin.isTTY) process.stdin.setRawMode(true);
  try {
    process.exitCode = await engine.backends[instance.backend]!.attach(instance, command.length ? command : LOGIN_SHELL, {
      stdin: interactive ? process.stdin : undefined,
      stdout: process.stdout,
      stderr: process.stderr,
      tty,
    });
  } finally {
    if (tty && interactive && process.stdin.isTTY) process.stdin.setRawMode(false);
  }
}

/** A node that cannot run a command now: stopped (or killed), or paused. */
export function notRunning({ node, paused }: NodeInstance): RigError {
  const short = node.split('.')[0];
  return paused
    ? new RigError(`${node} is paused: it runs nothing until it is thawed.`, `thaw it: rig unpause ${short}`, ExitCode.badInput)
    : new RigError(`${node} is not running.`, `start it: rig start ${short}`, ExitCode.badInput);
}

/** A stream that writes each line after a label, as lines come (several nodes' output interleaved, told apart). */
function labelled(label: string, target: NodeJS.WritableStream): NodeJS.WritableStream {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) target.write(`${label} | ${line}\n`);
      done();
    },
    final(done) {
      if (partial) target.write(`${label} | ${partial}\n`);
      done();
    },
  });
}

/**
 * rig exec --all / --role ROLE: the command on each of those nodes at once, each line after its node's name; then a
 * line on stderr for each node where it failed, with its exit code. It exits with the first failing node's code (in
 * node order). Each runs in a process group of its own (rig-run): Ctrl-C or SIGTERM ends them all, whole, and rig
 * says which had ended and which it ended (exit 130).
 */
async function execOnMany(engine: Engine, command: string[], flags: { name?: string; all?: boolean; role?: string }): Promise<void> {
  if (!command.length)
    throw new RigError('Say what to run on the nodes.', 'rig exec --all -- COMMAND, or rig exec --role ROLE -- COMMAND', ExitCode.badInput);
  const interrupts = catchInterrupts();
  try {
    const chosen = await chooseNodes(engine, flags);
    if (interrupts.which) throw interruptedError('nothing was run');
    await execEach(engine, chosen, command, interrupts);
  } finally {
    interrupts.release();
  }
}

/** The nodes of --all or --role ROLE; none is bad input. */
async function chooseNodes(engine: Engine, flags: { name?: string; role?: string }): Promise<NodeInstance[]> {
  const rig = await whichRig(engine, flags.name);
  const instances = await listNodes(engine, rig);
  let chosen = instances;
  // the roles rig recorded on each node, never its own roles fact: a node cannot put itself in a role
  if (flags.role) chosen = instances.filter((i) => i.roles?.includes(flags.role!));
  if (!chosen.length)
    throw new RigError(
      `No node of rig ${rig}${flags.role ? ` has the role ${flags.role}` : ' is up'}.`,
      'see the nodes and their roles with: rig inventory --format json',
      ExitCode.badInput,
    );
  const idle = chosen.find((i) => !i.running || i.paused); // refused before anything runs, as rig provision does
  if (idle) throw notRunning(idle);
  return chosen;
}

/** The command on each node at once (see execOnMany), then a line for each node where it failed or was ended. */
async function execEach(engine: Engine, chosen: NodeInstance[], command: string[], interrupts: Caught): Promise<void> {
  const runs = new NodeRuns(engine, interrupts.signal);
  const width = Math.max(...chosen.map((i) => i.node.split('.')[0].length));
  const ended = new Set<string>(); // the nodes whose command was still running when the interrupt came
  const codes = await Promise.all(
    chosen.map(async (i) => {
      const label = i.node.split('.')[0].padEnd(width);
      const [stdout, stderr] = [labelled(label, process.stdout), labelled(label, process.stderr)];
      const onAbort = () => ended.add(i.node);
      interrupts.signal.addEventListener('abort', onAbort);
      const code = await runs.attach(i, command, { stdout, stderr, tty: false });
      interrupts.signal.removeEventListener('abort', onAbort);
      await Promise.all([stdout, stderr].map((s) => new Promise<void>((resolve) => s.end(() => resolve()))));
      return code;
    }),
  );
  for (const [n, i] of chosen.entries()) {
    if (ended.has(i.node)) process.stderr.write(`rig: ${i.node}: ended by the interrupt (exit ${codes[n]})\n`);
    else if (codes[n] !== 0) process.stderr.write(`rig: ${i.node}: exited ${describeExit(codes[n])}\n`);
  }
  if (interrupts.which) {
    const finished = chosen.filter((i) => !ended.has(i.node)).map((i) => i.node);
    throw interruptedError(
      `the command was ended in ${ended.size} of ${chosen.length} nodes${finished.length ? ` (it had ended in ${finished.join(', ')})` : ''}`,
    );
  }
  process.exitCode = codes.find((c) => c !== 0) ?? 0; // the first node's failure, in node order
}

/** An exit code, with the signal that ended the command when it says one did (128 + its number). */
function describeExit(code: number): string {
  const name = code > 128 && code < 160 ? Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] : undefined;
  return name ? `${code} (${name})` : String(code);
}
