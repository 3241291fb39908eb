import { existsSync, watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LineSplitter, type LineSink, type LogOptions } from '../backend.js';

/**
 * An LXC node's console log as lines: the log file LXC writes (rotated: the file and the one before it), read a
 * piece at a time from where the asked tail or time begins, and followed as it grows.
 */

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
export async function streamConsoleLog(dir: string, options: LogOptions, onLine: LineSink, signal: AbortSignal): Promise<void> {
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
