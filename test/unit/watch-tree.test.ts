import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { editorTemporary, watchTrees, type TreeChange } from '../../src/cli/watch-tree.js';
import { failingStepOutput } from '../../src/engine/provision.js';

describe('editorTemporary: the names editors save through', () => {
  it("knows Vim's probe and swap files, backups, Emacs', JetBrains' and gedit's temporaries", () => {
    for (const name of ['4913', '5036', '.barn.yaml.swp', '.barn.yaml.swo', 'barn.yaml~', '#barn.yaml#', '.#barn.yaml'])
      expect(editorTemporary(name), name).toBe(true);
    for (const name of ['barn.yaml___jb_tmp___', 'barn.yaml___jb_old___', '.goutputstream-ABC123', '.~lock.notes.odt#'])
      expect(editorTemporary(name), name).toBe(true);
    for (const name of ['barn.yaml', '4914', '2024', 'site.pp', 'swap.yaml', 'notes#1.txt', 'movie.swf'])
      expect(editorTemporary(name), name).toBe(false);
  });
});

describe('failingStepOutput: what the failing step said', () => {
  it('takes the lines after the last step line, without the failure line', () => {
    const output = [
      'rig-agent: step 1/2: shell',
      'first step',
      'rig-agent: step 2/2: puppet',
      'Notice: Compiled catalog',
      "Error: expects a match for Enum['master', 'replica'], got 'primary'",
      'step 2/2 (puppet) exited 1',
    ].join('\n');
    expect(failingStepOutput(output)).toBe("Notice: Compiled catalog\nError: expects a match for Enum['master', 'replica'], got 'primary'");
    expect(failingStepOutput('rig-agent: step 1/1: shell\nstep 1/1 (shell) exited 1\n')).toBe('');
  });
});

describe('watchTrees: every save, however it is made', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-watch-tree-'));
  const file = join(dir, 'hiera/nodes/barn.yaml');
  const changes: TreeChange[] = [];
  const waiting: Array<(c: TreeChange) => void> = [];
  let watching: Awaited<ReturnType<typeof watchTrees>>;
  const warnings: string[] = [];
  const moveOver = (text: string) => {
    writeFileSync(join(dir, 'hiera/nodes/tmp.Xq3'), text);
    renameSync(join(dir, 'hiera/nodes/tmp.Xq3'), file);
  };
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir });

  /** The next settled change, or undefined if none comes within `ms`. */
  const next = (ms = 5000) =>
    new Promise<TreeChange | undefined>((resolve) => {
      const ready = changes.shift();
      if (ready) return resolve(ready);
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(take), 1);
        resolve(undefined);
      }, ms);
      const take = (c: TreeChange) => {
        clearTimeout(timer);
        resolve(c);
      };
      waiting.push(take);
    });
  const changed = async () => (await next())?.changed.map((p) => p.slice(dir.length + 1)).sort();

  beforeAll(async () => {
    mkdirSync(join(dir, 'hiera/nodes'), { recursive: true });
    writeFileSync(file, 'colour: red\n');
    writeFileSync(join(dir, '.gitignore'), '*.log\nbuild/\n');
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'red');
    writeFileSync(file, 'colour: blue\n');
    git('commit', '-qam', 'blue');
    watching = await watchTrees([dir], {
      settleMs: 40,
      onChange: (c) => (waiting.shift() ?? ((x: TreeChange) => changes.push(x)))(c),
      onWarning: (w) => warnings.push(w),
    });
  });
  afterAll(() => {
    watching.close();
    rmSync(dir, { recursive: true, force: true });
    expect(warnings).toEqual([]);
  });

  it('says whether it leaves out what git ignores', () => expect(watching.gitIgnores).toBe(true));

  it('sees in-place writes, sed -i, mv over the file and git checkout, each twice, naming the file', async () => {
    for (const save of [
      () => writeFileSync(file, 'colour: green\n'),
      () => appendFileSync(file, 'size: 2\n'),
      () => execFileSync('sed', ['-i', 's/green/yellow/', file]),
      () => execFileSync('sed', ['-i', 's/yellow/purple/', file]),
      () => moveOver('colour: 1\n'),
      () => moveOver('colour: 2\n'),
      () => git('checkout', 'HEAD~1', '--', 'hiera/nodes/barn.yaml'),
      () => git('checkout', 'HEAD', '--', 'hiera/nodes/barn.yaml'),
    ]) {
      save();
      expect(await changed(), save.toString()).toEqual(['hiera/nodes/barn.yaml']);
    }
  });

  it("leaves out editors' temporaries and what git ignores, and says which ignored files it saw", async () => {
    // Vim with backupcopy=no: its probe, the file moved to a backup, written anew, the backup removed.
    writeFileSync(join(dir, 'hiera/nodes/4913'), '');
    rmSync(join(dir, 'hiera/nodes/4913'));
    renameSync(file, `${file}~`);
    writeFileSync(file, 'colour: vim\n');
    rmSync(`${file}~`);
    expect(await changed()).toEqual(['hiera/nodes/barn.yaml']);
    writeFileSync(join(dir, 'debug.log'), 'x');
    const only = await next();
    expect(only).toEqual({ changed: [], ignored: [{ path: join(dir, 'debug.log'), why: 'git ignores it' }] });
    appendFileSync(join(dir, 'debug.log'), 'y'); // known to be ignored: not even a burst
    expect(await next(300)).toBeUndefined();
    mkdirSync(join(dir, 'build'));
    writeFileSync(join(dir, 'build/out.o'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    expect(await next()).toEqual({ changed: [join(dir, 'notes.txt')], ignored: [{ path: join(dir, 'build'), why: 'git ignores it' }] });
    writeFileSync(join(dir, 'build/out.o'), 'y'); // not watched
    writeFileSync(join(dir, '.gitignore'), '*.log\nbuild/\nnotes.txt\n');
    expect(await changed()).toEqual(['.gitignore']);
    writeFileSync(join(dir, 'notes.txt'), 'y');
    expect((await next())?.changed).toEqual([]);
  });

  it('follows directories made, moved and removed', async () => {
    mkdirSync(join(dir, 'extra/deep'), { recursive: true });
    writeFileSync(join(dir, 'extra/deep/a.txt'), '1');
    expect(await changed()).toEqual(['extra/deep/a.txt']);
    appendFileSync(join(dir, 'extra/deep/a.txt'), '2');
    expect(await changed()).toEqual(['extra/deep/a.txt']);
    renameSync(join(dir, 'extra'), join(dir, 'moved'));
    expect(await changed()).toEqual(['extra/deep/a.txt', 'moved/deep/a.txt']);
    appendFileSync(join(dir, 'moved/deep/a.txt'), '3');
    expect(await changed()).toEqual(['moved/deep/a.txt']);
    rmSync(join(dir, 'moved'), { recursive: true });
    expect(await changed()).toEqual(['moved/deep/a.txt']);
    mkdirSync(join(dir, 'moved'));
    expect(await next(300)).toBeUndefined(); // an empty directory changes nothing, but is watched
    writeFileSync(join(dir, 'moved/b.txt'), '4');
    expect(await changed()).toEqual(['moved/b.txt']);
  });

  it('reports a link made or removed, and what is in a new directory, without following links', async () => {
    symlinkSync('barn.yaml', join(dir, 'hiera/nodes/mill.yaml'));
    expect(await changed()).toEqual(['hiera/nodes/mill.yaml']);
    rmSync(join(dir, 'hiera/nodes/mill.yaml'));
    expect(await changed()).toEqual(['hiera/nodes/mill.yaml']);
  });
});

describe('watchTrees: a tree kept where git ignores it', () => {
  it('is not judged by that git: every file in it counts', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'rig-watch-ignored-'));
    const root = join(repo, 'scratch/rig');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(repo, '.gitignore'), 'scratch/\n');
    execFileSync('git', ['init', '-q'], { cwd: repo });
    const seen: TreeChange[] = [];
    let got: () => void = () => undefined;
    const watching = await watchTrees([root], { settleMs: 40, onChange: (c) => (seen.push(c), got()), onWarning: () => undefined });
    try {
      expect(watching.gitIgnores).toBe(false);
      const change = new Promise<void>((resolve) => (got = resolve));
      writeFileSync(join(root, 'rig.yaml'), 'x');
      await change;
      expect(seen).toEqual([{ changed: [join(root, 'rig.yaml')], ignored: [] }]);
    } finally {
      watching.close();
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe('watchTrees: a tree reached through a symbolic link', () => {
  it('asks git under the real name and reports under the watched one', async () => {
    const base = mkdtempSync(join(tmpdir(), 'rig-watch-link-'));
    mkdirSync(join(base, 'real/rig'), { recursive: true });
    writeFileSync(join(base, 'real/.gitignore'), '*.log\n');
    execFileSync('git', ['init', '-q'], { cwd: join(base, 'real') });
    symlinkSync('real', join(base, 'link'));
    const root = join(base, 'link/rig');
    const seen: TreeChange[] = [];
    let got: () => void = () => undefined;
    const watching = await watchTrees([root], { settleMs: 40, onChange: (c) => (seen.push(c), got()), onWarning: () => undefined });
    try {
      expect(watching.gitIgnores).toBe(true);
      const change = new Promise<void>((resolve) => (got = resolve));
      writeFileSync(join(root, 'out.log'), 'x');
      writeFileSync(join(root, 'rig.yaml'), 'x');
      await change;
      expect(seen).toEqual([{ changed: [join(root, 'rig.yaml')], ignored: [{ path: join(root, 'out.log'), why: 'git ignores it' }] }]);
    } finally {
      watching.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
