import { lstatSync, readdirSync, watch, type Dirent, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { GitIgnore } from './git-ignore.js';
import { OwnOutput } from './own-output.js';

/** What a settled burst of events means: the files changed (made, written, replaced or removed), and what was left out. */
export interface TreeChange {
  changed: string[];
  ignored: Array<{ path: string; why: string }>;
}

export interface TreeWatchOptions {
  settleMs: number; // how long a burst of events settles before it counts as one change
  onChange: (change: TreeChange) => void;
  onWarning: (message: string) => void;
}

/** How many left-out paths a watch remembers (each spares a question to git when it changes again). */
const MAX_QUIET = 10_000;

/** Version control internals and dependencies, never a change to provision for. */
const SKIPPED_DIRS = new Set(['.git', '.hg', '.svn', 'node_modules']);

/**
 * Editors' temporary and backup files, by name: Vim's swap files (.swp, .swo, ...) and its `4913` probe (then 5036,
 * 5159, ...: 123 apart), backups ending in `~`, Emacs' `#autosave#` and `.#lock`, JetBrains' safe-write files, gedit's
 * `.goutputstream-*`, LibreOffice's `.~lock.*#`, Kate's `.kate-swp`.
 */
export function editorTemporary(name: string): boolean {
  if (/^\d+$/.test(name)) {
    const n = Number(name);
    return n >= 4913 && n < 4913 + 123 * 1000 && (n - 4913) % 123 === 0;
  }
  return /~$|\.sw[px]$|^\..*\.sw[a-o]$|^\.?#.*#?$|___jb_(tmp|old|bak)___$|^\.goutputstream-|^\.~lock\..*#$|\.kate-swp$/.test(name);
}

/**
 * Watch directory trees for saved changes, following every save however it is made. Node 20's `fs.watch(dir,
 * { recursive: true })` on Linux stops reporting a file once another has been renamed over it (`sed -i`, `mv tmp
 * file`, `git checkout`, editors that write a new file and rename it over the old one), so every directory is
 * watched on its own (inotify, no polling), and the watch follows directories made, moved and removed. A name that
 * was not there before a burst and is gone after it (sed's or an editor's temporary file, renamed over its target)
 * is no change: the target's own event names it. Left out: what git ignores in the directory's work tree,
 * editors' temporaries and backups, version control internals, and what rig itself writes. Resolves once every
 * directory is watched.
 */
export async function watchTrees(roots: string[], options: TreeWatchOptions): Promise<{ close: () => void; gitIgnores: boolean }> {
  const tree = new Tree(options, new OwnOutput());
  for (const root of roots) await tree.addRoot(root);
  return { close: () => tree.close(), gitIgnores: tree.gitIgnores() };
}

class Tree {
  private readonly watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
  private readonly known = new Map<string, 'file' | 'dir'>(); // every path watched or reported, files and directories
  private readonly ignorers: GitIgnore[] = [];
  private readonly unjudged: string[] = []; // roots git ignores as a whole: nothing under them is git's to judge
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private settling: Promise<void> = Promise.resolve();
  private closed = false;
  private warnedLimit = false;
  /** Paths found left out (git ignores them, or rig writes them): their events start no burst, so never delay an edit. */
  private readonly quiet = new Map<string, 'git' | 'own'>();

  constructor(
    private readonly options: TreeWatchOptions,
    private readonly own: OwnOutput,
  ) {}

  gitIgnores = () => this.ignorers.length > 0;

  async addRoot(root: string): Promise<void> {
    const git = await GitIgnore.open(root);
    // A tree git ignores as a whole (kept in an ignored place of a repository) is not git's to judge.
    if (git && git.top !== root && (await git.ignored([root])).has(root)) {
      git.close();
      this.unjudged.push(root);
    } else if (git && !this.ignorers.some((g) => g.top === git.top)) this.ignorers.push(git);
    await this.sync(root, []);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watchers.forEach((w) => w.watcher.close());
    this.watchers.clear();
    this.ignorers.forEach((g) => g.close());
  }

  /** An event: a name in a watched directory changed. Editors' temporaries never count, nor start a burst. */
  private event(path: string): void {
    const name = basename(path);
    if (this.closed || editorTemporary(name) || this.stillQuiet(path)) return;
    if (SKIPPED_DIRS.has(name)) {
      // A repository made while watching (git init) has ignore rules from now on.
      if (name === '.git') this.settling = this.settling.then(() => this.nestedRepository(dirname(path))).catch(() => undefined);
      return;
    }
    this.pending.add(path);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const paths = [...this.pending];
      this.pending.clear();
      this.settling = this.settling
        .then(() => this.settle(paths))
        .catch((err: Error) => this.options.onWarning(`watching: ${err.message}`));
    }, this.options.settleMs);
  }

  /** What a burst's paths mean now: each is looked at once (lstat), and what git ignores asked in one question. */
  private async settle(paths: string[]): Promise<void> {
    if (this.closed) return;
    const changed = new Set<string>();
    const ignored: TreeChange['ignored'] = [];
    const present = new Map<string, Stats>();
    for (const path of paths) {
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (stat) present.set(path, stat);
      else this.gone(path, changed); // not there now: removed, or a temporary renamed away
    }
    const gitIgnored = await this.gitIgnored([...present.keys()]);
    for (const [path, stat] of present) {
      if (this.own.isOwn(stat)) {
        this.quiet.set(path, 'own'); // rig's own output: not even a note (that would be output again)
        continue;
      }
      if (gitIgnored.has(path)) {
        if (this.quiet.size >= MAX_QUIET) this.quiet.clear(); // a build's many files: asked again, never unbounded
        this.quiet.set(path, 'git');
        ignored.push({ path, why: 'git ignores it' });
        continue;
      }
      if (basename(path) === '.gitignore') {
        this.ignorerOf(path)?.restart(); // its rules count from now on
        for (const [p, why] of this.quiet) if (why === 'git') this.quiet.delete(p);
      }
      if (stat.isDirectory()) await this.directory(path, stat, changed);
      else {
        this.known.set(path, 'file');
        changed.add(path);
      }
    }
    // A .gitignore that changed may let directories in: watch them (what is in them is no edit).
    for (const path of changed) if (basename(path) === '.gitignore') await this.sync(dirname(path), []);
    if (changed.size || ignored.length) this.options.onChange({ changed: [...changed], ignored });
  }

  /** A path that is not there: if it was known, it and everything known under it were removed (or moved away). */
  private gone(path: string, changed: Set<string>): void {
    if (!this.known.has(path)) return; // never seen: a temporary file, created and renamed (or removed) in one burst
    // A directory: the files in it (an empty directory changes nothing).
    const under = this.known.get(path) === 'dir' ? this.knownUnder(path) : [path];
    const files = under.filter((p) => this.known.get(p) === 'file');
    for (const p of under) this.known.delete(p);
    this.unwatch(path);
    if (!this.quiet.delete(path)) for (const p of files) changed.add(p); // a file left out while it was there: still no change
  }

  /** A directory in a burst: new (or replaced, or moved here): watch it and report the files in it; else nothing. */
  private async directory(path: string, stat: Stats, changed: Set<string>): Promise<void> {
    const watched = this.watchers.get(path);
    if (watched?.ino === stat.ino) return; // its own entries report themselves
    const before = new Set(this.knownUnder(path).filter((p) => this.known.get(p) === 'file'));
    if (watched) this.unwatch(path);
    for (const p of before) this.known.delete(p);
    const found: string[] = [];
    await this.sync(path, found);
    for (const p of [...found, ...[...before].filter((p) => !this.known.has(p))]) changed.add(p);
  }

  /**
   * Watch `dir` and every directory under it not yet watched (or watched as another directory of that name), except
   * what is left out; files not known before go to `found`.
   */
  private async sync(dir: string, found: string[]): Promise<void> {
    if (this.closed) return;
    const stat = lstatSync(dir, { throwIfNoEntry: false });
    if (!stat?.isDirectory()) return;
    if (this.watchers.get(dir)?.ino !== stat.ino) {
      this.unwatch(dir);
      if (!this.watchDir(dir, stat.ino)) return;
    }
    this.known.set(dir, 'dir');
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone meanwhile, or not ours to read: its own event will say
    }
    if (entries.some((e) => e.name === '.git')) await this.nestedRepository(dir);
    const paths = entries
      .filter((e) => !editorTemporary(e.name) && !(e.isDirectory() && SKIPPED_DIRS.has(e.name)))
      .map((e) => ({ path: join(dir, e.name), isDir: e.isDirectory() }));
    const ignored = await this.gitIgnored(paths.map((p) => p.path));
    for (const { path, isDir } of paths.filter((p) => !ignored.has(p.path))) {
      if (isDir) await this.sync(path, found);
      else if (!this.known.has(path)) {
        this.known.set(path, 'file');
        found.push(path);
      }
    }
  }

  private watchDir(dir: string, ino: number): boolean {
    try {
      const watcher = watch(dir, { persistent: true }, (_event, name) => name && this.event(join(dir, name)));
      // A directory removed under the watch: the next event of its parent settles it.
      watcher.on('error', () => this.event(dir));
      this.watchers.set(dir, { watcher, ino });
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' && !this.warnedLimit) {
        this.warnedLimit = true;
        this.options.onWarning(
          `the system's limit of inotify watches is reached: changes under ${dir} and other new directories are not seen ` +
            '(raise it: sysctl fs.inotify.max_user_watches=524288)',
        );
      } else if (code !== 'ENOENT' && code !== 'ENOSPC') this.options.onWarning(`cannot watch ${dir}: ${(err as Error).message}`);
      return false;
    }
  }

  private unwatch(path: string): void {
    for (const [dir, { watcher }] of this.watchers)
      if (dir === path || dir.startsWith(path + sep)) {
        watcher.close();
        this.watchers.delete(dir);
      }
  }

  /** Whether a path found left out still is: git's answer stands until a .gitignore changes; rig's output is looked at again. */
  private stillQuiet(path: string): boolean {
    const why = this.quiet.get(path);
    if (why === 'own') {
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (stat && this.own.isOwn(stat)) return true;
    }
    if (why !== 'git') this.quiet.delete(path);
    return why === 'git';
  }

  private knownUnder(path: string): string[] {
    return [...this.known.keys()].filter((p) => p === path || p.startsWith(path + sep));
  }

  /** A repository inside the watched tree has its own ignore rules (its parent's git would not judge its paths). */
  private async nestedRepository(dir: string): Promise<void> {
    if (this.ignorers.some((g) => g.top === dir)) return;
    const git = await GitIgnore.open(dir);
    if (git && !this.ignorers.some((g) => g.top === git.top)) this.ignorers.push(git);
  }

  private ignorerOf(path: string): GitIgnore | undefined {
    return this.ignorers.filter((g) => g.covers(path) && g.top !== path).sort((a, b) => b.top.length - a.top.length)[0];
  }

  /** Which of `paths` git ignores, each asked of the work tree it is in. */
  private async gitIgnored(paths: string[]): Promise<Set<string>> {
    const byTree = new Map<GitIgnore, string[]>();
    for (const path of paths) {
      if (this.unjudged.some((root) => path.startsWith(root + sep))) continue;
      const git = this.ignorerOf(path);
      if (git) byTree.set(git, [...(byTree.get(git) ?? []), path]);
    }
    const answers = await Promise.all([...byTree].map(([git, asked]) => git.ignored(asked)));
    return new Set(answers.flatMap((a) => [...a]));
  }
}
