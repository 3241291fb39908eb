import { fstatSync, readdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';

/** A file by its device and inode: the same file under any name. */
const fileKey = (s: { dev: number; ino: number }) => `${s.dev}:${s.ino}`;

/** Whether /proc/PID/fdinfo/FD says the descriptor was opened for writing (O_WRONLY or O_RDWR). */
function forWriting(pid: number, fd: string): boolean | undefined {
  try {
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
    return flags === undefined ? undefined : (parseInt(flags, 8) & 3) !== 0;
  } catch {
    return undefined; // the process or descriptor is gone: not known
  }
}

/** A process's session id, from /proc/PID/stat (the sixth field; the second, its name in parentheses, may hold anything). */
function sessionOf(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3];
  } catch {
    return undefined; // the process ended: it has no session
  }
}

/**
 * The processes of this one's session (a shell pipeline: `rig watch | tee watch.log`) other than this one that read
 * one of `pipes` (`pipe:[inode]`): whoever takes rig's output.
 */
function pipeReaders(pipes: Set<string>): number[] {
  const session = sessionOf('self');
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map(Number)
      .filter((p) => p !== process.pid && sessionOf(p) === session);
  } catch {
    return []; // no /proc
  }
  return pids.filter((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => pipes.has(readlinkSync(`/proc/${pid}/fd/${fd}`)) && forWriting(pid, fd) === false);
    } catch {
      return false; // gone, or not ours to look at
    }
  });
}

/**
 * What rig itself is writing, so that a watch never takes it for an edit: its stdout and stderr when they go to a
 * file (`rig watch > watch.log`), and, when they go to a pipe, the files the process of its session reading it
 * writes (`rig watch | tee watch.log`). Found once at start (the reader by the pipe it holds, in /proc).
 */
export class OwnOutput {
  private readonly files = new Set<string>();
  private readonly readers: number[] = [];

  constructor() {
    const pipes = new Set<string>();
    for (const fd of [1, 2]) {
      try {
        const stat = fstatSync(fd);
        if (stat.isFile()) this.files.add(fileKey(stat));
        else if (stat.isFIFO()) pipes.add(`pipe:[${stat.ino}]`);
      } catch {
        // closed
      }
    }
    if (pipes.size) this.readers = pipeReaders(pipes);
  }

  /** Whether a file (its lstat) is rig's own output, or one the reader of its output holds open to write now. */
  isOwn(stat: Stats): boolean {
    const key = fileKey(stat);
    return this.files.has(key) || this.readers.some((pid) => writes(pid, key));
  }
}

/** Whether process `pid` holds the file `key` open to write (its descriptors, in /proc); false if it ended. */
function writes(pid: number, key: string): boolean {
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // it ended (or is not ours to look into): it writes nothing
  }
  return fds.some((fd) => {
    try {
      const file = `/proc/${pid}/fd/${fd}`;
      // Files only (not pipes or sockets), that one, opened to write.
      return readlinkSync(file).startsWith('/') && fileKey(statSync(file)) === key && forWriting(pid, fd) === true;
    } catch {
      return false; // closed meanwhile
    }
  });
}
