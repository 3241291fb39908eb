import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { runCommand } from '../runtime/command.js';

interface Checker {
  git: ChildProcessWithoutNullStreams;
  alive: boolean;
  onEnd: Set<() => void>;
}

/**
 * What git ignores in one work tree, asked of git itself: one `git check-ignore --stdin` process kept running (a
 * question is a write and a read on its pipes, well under a millisecond), so .gitignore files at every level,
 * `.git/info/exclude` and the user's `core.excludesFile` count exactly as git counts them, and a tracked file is
 * never ignored. It reads each .gitignore once: after one changes, `restart()`.
 */
export class GitIgnore {
  private process: Checker | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /** `top`: the work tree as the watcher names it; `real`: as git names it (they differ when a symlink leads there). */
  private constructor(
    readonly top: string,
    private readonly real: string,
  ) {}

  /** The work tree `dir` is in (undefined: none, or no git). */
  static async open(dir: string): Promise<GitIgnore | undefined> {
    const real = await runCommand('git', ['-C', dir, 'rev-parse', '--show-toplevel'], { timeoutMs: 10_000 }).then(
      (found) => found.stdout.trim() || undefined,
      () => undefined, // no git, or not a work tree: nothing is left out
    );
    if (real === undefined) return undefined;
    // dir is `real` plus some directories: the same directories off dir give the work tree under dir's name.
    let below: string;
    try {
      below = relative(real, realpathSync(dir));
    } catch {
      return undefined; // gone meanwhile
    }
    const top = !below ? dir : dir.endsWith(sep + below) ? dir.slice(0, -below.length - 1) : real;
    return new GitIgnore(top, real);
  }

  /** Whether `path` (absolute) is this work tree's to judge. */
  covers(path: string): boolean {
    return path === this.top || path.startsWith(this.top.endsWith(sep) ? this.top : this.top + sep);
  }

  /** Which of `paths` (absolute, in this work tree) git ignores. If git fails, none. */
  ignored(paths: string[]): Promise<Set<string>> {
    if (!paths.length) return Promise.resolve(new Set());
    const asked = this.queue.then(() => this.ask(paths));
    this.queue = asked.catch(() => undefined);
    return asked;
  }

  /** Forget what it read (a .gitignore changed): the next question starts git anew. */
  restart(): void {
    this.process?.git.stdin.end();
    this.process = undefined;
  }

  close(): void {
    this.restart();
  }

  private start(): Checker {
    // -z: NUL-separated paths both ways; --verbose --non-matching: one record of four fields per path asked, in order.
    // A plain spawn: a co-process asked line by line as long as the watch runs (runCommand waits for the end).
    const git = spawn('git', ['-C', this.top, 'check-ignore', '--stdin', '-z', '--verbose', '--non-matching'], {
      env: { ...process.env, GIT_FLUSH: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const checker: Checker = { git, alive: true, onEnd: new Set() };
    // It ended (a path it would not judge, or it could not start): what it answered counts, a new one asks next.
    const end = () => {
      checker.alive = false;
      if (this.process === checker) this.process = undefined;
      checker.onEnd.forEach((f) => f());
    };
    git.once('exit', end);
    git.once('error', end);
    git.stdin.on('error', () => undefined);
    git.stderr.resume();
    return checker;
  }

  private ask(paths: string[]): Promise<Set<string>> {
    const checker = (this.process ??= this.start());
    const { git } = checker;
    return new Promise((resolve) => {
      const ignored = new Set<string>();
      const text = new StringDecoder('utf8');
      let buffer = '';
      let answered = 0;
      const done = () => {
        git.stdout.off('data', onData);
        checker.onEnd.delete(done);
        resolve(ignored);
      };
      const onData = (chunk: Buffer) => {
        const fields = (buffer += text.write(chunk)).split('\0');
        const records = Math.floor((fields.length - 1) / 4);
        for (let i = 0; i < records; i++) {
          const [, , pattern, path] = fields.slice(i * 4, i * 4 + 4);
          // A `!pattern` that matched: not ignored.
          if (pattern && !pattern.startsWith('!')) ignored.add(this.top + path.slice(this.real.length));
        }
        buffer = fields.slice(records * 4).join('\0');
        answered += records;
        if (answered >= paths.length) done();
      };
      if (!checker.alive) return done();
      git.stdout.on('data', onData);
      checker.onEnd.add(done);
      git.stdin.write(`${paths.map((p) => this.real + p.slice(this.top.length)).join('\0')}\0`);
    });
  }
}
