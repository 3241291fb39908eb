import { describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { eventually, fixtureDir, leftovers, rig, rigBin, uniqueName, useRig } from './helpers.js';

/** How many times a node's log says its steps ran (the agent's first run, and each provisioning since). */
const runs = async (rigName: string, node: string) =>
  (await rig(['logs', node, '--name', rigName])).stdout.split('\n').filter((l) => /^rig-agent: step 1\/\d+/.test(l)).length;

const STRALEB = 'hieradata/nodes/straleb.prod.example.yaml';
const KELDA = 'hieradata/nodes/kelda.prod.example.yaml';

/**
 * A rig of two nodes, each reading its live node's colour in a step; a second step refuses the colour `primary` as
 * Puppet would (its message on stderr), and validate refuses `red`, saying why.
 */
const rigFile = (name: string) => `name: ${name}
domain: village.test
network: { internal: true }
provision:
  - shell: |
      sed -n 's/^colour: //p' "hieradata/nodes/$RIG_NODE.yaml" > /tmp/colour
  - shell: |
      echo "Notice: Compiled catalog for $RIG_NODE"
      if [ "$(cat /tmp/colour)" = primary ]; then
        echo "Error: Evaluation Error: Class[Redis]: parameter 'role' expects a match for Enum['master', 'replica'], got 'primary'" >&2
        exit 1
      fi
validate:
  - test "$(cat /tmp/colour)" != red || { echo "the colour may not be red" >&2; exit 1; }
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test: kelda.prod.example
`;
const files = { [STRALEB]: 'colour: blue\n', [KELDA]: 'colour: green\n' };

type Verdict = Record<string, unknown> & { changed: string[]; passed: boolean | null; results?: Array<{ fqdn: string }> };

/**
 * `rig watch` running in `dir`; `watching` resolves once it says it is watching (every directory followed), `next()`
 * to its next verdict (a JSON line with --json, else a verdict line and the lines under it).
 */
function startWatch(dir: string, args: string[], json = true) {
  const child = execa('node', [rigBin, 'watch', ...args, ...(json ? ['--json'] : [])], { env: { CI: 'true' }, reject: false, cwd: dir });
  const verdicts: Verdict[] = [];
  const waiting: Array<(v: Verdict) => void> = [];
  const hand = (v: Verdict) => (waiting.shift() ?? ((x: Verdict) => verdicts.push(x)))(v);
  let stdout = '';
  let stderr = '';
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (json && line.startsWith('{"time"') && line.includes('"verdict"')) hand(JSON.parse(line) as Verdict);
      if (!json && /^\[\d\d:\d\d:\d\d\] /.test(line)) hand({ changed: [], passed: null, line });
    }
  });
  const watching = new Promise<void>((resolve) =>
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()).includes('watching ') && resolve()),
  );
  const next = (ms = 60_000) =>
    new Promise<Verdict>((resolve, reject) => {
      const ready = verdicts.shift();
      if (ready) return resolve(ready);
      waiting.push(resolve);
      setTimeout(() => reject(new Error(`no verdict within ${ms / 1000} s; stdout so far:\n${stdout}\nstderr:\n${stderr}`)), ms);
    });
  const stop = async () => {
    child.kill('SIGINT');
    return child;
  };
  return { child, next, watching, stop, output: () => stdout, errors: () => stderr };
}

describe('rig watch', () => {
  const r = useRig('watch', rigFile, files);

  it('provisions and validates only the nodes a change affects, one verdict per change; an invalid rig file leaves the rig as it was', async () => {
    const watch = startWatch(r.dir, ['--name', r.name]);
    try {
      await watch.watching;
      const before = await runs(r.name, 'mill');
      writeFileSync(join(r.dir, STRALEB), 'colour: red\n');
      const red = await watch.next();
      expect(red.passed).toBe(false);
      expect(red.changed).toEqual([join(r.dir, STRALEB)]);
      expect(red.triggers).toEqual([{ path: join(r.dir, STRALEB), why: 'config of straleb.prod.example', nodes: ['barn.village.test'] }]);
      expect((red.results as Array<{ fqdn: string }>).map((x) => x.fqdn)).toEqual(['barn.village.test']);
      expect(red.detail).toContain('the colour may not be red'); // why validate failed
      writeFileSync(join(r.dir, STRALEB), 'colour: yellow\n');
      const yellow = await watch.next();
      expect(yellow.passed).toBe(true);
      expect(await runs(r.name, 'mill')).toBe(before); // not touched

      const rigText = readFileSync(join(r.dir, 'rig.yaml'), 'utf8');
      writeFileSync(join(r.dir, 'rig.yaml'), `${rigText}  well.village.test: [\n`);
      const broken = await watch.next();
      expect(broken.passed).toBe(false);
      expect(String(broken.verdict)).toMatch(/the rig file is not valid; the rig stays as it was:[^]*rig\.yaml:\d+:\d+: YAML syntax error/);
      writeFileSync(join(r.dir, 'rig.yaml'), rigText);
      expect((await watch.next()).verdict).toBe('the rig already matches the rig file');
      const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
      expect(status.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready']);

      // A node added to the rig file: the watch applies it as rig up would, and validates it (its live file has no colour).
      writeFileSync(join(r.dir, 'rig.yaml'), `${rigText}  well.village.test: hobb.prod.example\n`);
      const added = await watch.next();
      expect(added.verdict).toBe('applied: + well.village.test (new), = 2 nodes unchanged');
      expect(added.passed).toBe(true);
      const [grown] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
      expect(grown.nodes.map((n: { fqdn: string; stage: string }) => `${n.fqdn} ${n.stage}`)).toEqual([
        'barn.village.test ready',
        'mill.village.test ready',
        'well.village.test ready',
      ]);
      expect(await runs(r.name, 'mill')).toBe(before); // the unchanged nodes are not touched
      // The link rig made for well is rig's own doing, not a change: the next verdict is the next edit's.
      writeFileSync(join(r.dir, KELDA), 'colour: green\n');
      expect((await watch.next()).changed).toEqual([join(r.dir, KELDA)]);
      writeFileSync(join(r.dir, 'rig.yaml'), rigText);
      expect((await watch.next()).verdict).toBe('applied: - well.village.test (gone from the rig file), = 2 nodes unchanged');
    } finally {
      await watch.stop();
    }
    expect((await watch.child).exitCode).toBe(0); // Ctrl-C stops watching; the rig stays
    expect((await rig(['status', '--name', r.name])).exitCode).toBe(0);
  });

  it("shows a failing step's last lines, and a failing check's output, under the verdict", async () => {
    const watch = startWatch(r.dir, ['--name', r.name], false);
    try {
      await watch.watching;
      writeFileSync(join(r.dir, STRALEB), 'colour: primary\n');
      expect((await watch.next()).line).toMatch(
        /FAIL hieradata\/nodes\/straleb\.prod\.example\.yaml \(config of straleb\.prod\.example\): barn\.village\.test FAIL \(step 2\/2 \(shell\) exited 1\)/,
      );
      await eventually(async () => watch.output().includes('got '), 5_000, 50);
      const below = watch.output().split('\n').slice(1);
      expect(below[0]).toBe('  barn.village.test: step 2/2 (shell) said:');
      expect(below).toContain('    Notice: Compiled catalog for barn.village.test');
      expect(below).toContain(
        "    Error: Evaluation Error: Class[Redis]: parameter 'role' expects a match for Enum['master', 'replica'], got 'primary'",
      );
      writeFileSync(join(r.dir, STRALEB), 'colour: red\n');
      expect((await watch.next()).line).toMatch(/FAIL .*barn\.village\.test FAIL \(validate: test "\$\(cat \/tmp\/colour\)" != red/);
      await eventually(async () => watch.output().includes('may not be red'), 5_000, 50);
      expect(watch.output()).toMatch(
        /\n {2}barn\.village\.test: test "\$\(cat \/tmp\/colour\)" != red .* exited 1:\n {4}the colour may not be red\n/,
      );
      writeFileSync(join(r.dir, STRALEB), 'colour: blue\n');
      expect((await watch.next()).line).toMatch(/PASS /);
    } finally {
      await watch.stop();
    }
  });

  it('up --watch watches the rig it brought up, and takes it down on Ctrl-C', async () => {
    const name = uniqueName('upwatch');
    const fixture = fixtureDir(
      `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nprovision:\n  - shell: cat hieradata/nodes/$RIG_NODE.yaml\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    const child = execa('node', [rigBin, 'up', 'rig.yaml', '--watch'], { env: { CI: 'true' }, reject: false, cwd: fixture.dir, all: true });
    let out = '';
    child.all!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve) => (pattern.test(out) ? resolve() : child.all!.on('data', () => pattern.test(out) && resolve())));
    try {
      await seen(/watching /);
      expect(out).toContain(`watching ${fixture.dir}`);
      writeFileSync(join(fixture.dir, STRALEB), 'edited: yes\n');
      await seen(/PASS .*barn\.village\.test pass/);
      expect(out).toMatch(
        /PASS hieradata\/nodes\/straleb\.prod\.example\.yaml \(config of straleb\.prod\.example\): barn\.village\.test pass/,
      );
    } finally {
      child.kill('SIGINT');
      await child;
      fixture.cleanup();
    }
    expect(out).toContain(`rig ${name} was removed`);
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('rig watch follows every save', () => {
  const r = useRig('saves', rigFile, files);
  const git = (...args: string[]) => execa('git', ['-c', 'user.name=rig', '-c', 'user.email=rig@village.test', ...args], { cwd: r.dir });

  it('sees every kind of save twice in a row (in place, sed -i, mv over, git checkout, an editor renaming), naming the file saved', async () => {
    const straleb = join(r.dir, STRALEB);
    // Two commits of barn's live file, for git checkout to write one then the other.
    await git('init', '-q');
    writeFileSync(straleb, 'colour: purple\n');
    await git('add', '-A');
    await git('commit', '-qm', 'purple');
    writeFileSync(straleb, 'colour: orange\n');
    await git('commit', '-qam', 'orange');
    const watch = startWatch(r.dir, ['--name', r.name]);
    const saved = async (how: string) => {
      const v = await watch.next(20_000).catch((err: Error) => {
        throw new Error(`${how}: ${err.message}`);
      });
      expect({ how, changed: v.changed, nodes: v.results?.map((x) => x.fqdn), passed: v.passed }).toEqual({
        how,
        changed: [straleb],
        nodes: ['barn.village.test'],
        passed: true,
      });
    };
    try {
      await watch.watching;
      for (const colour of ['yellow', 'blue']) {
        writeFileSync(straleb, `colour: ${colour}\n`);
        await saved(`written in place (${colour})`);
      }
      for (const colour of ['green', 'yellow']) {
        await execa('sed', ['-i', `s/^colour: .*/colour: ${colour}/`, straleb]);
        await saved(`sed -i (${colour})`);
      }
      for (const colour of ['blue', 'green']) {
        writeFileSync(join(r.dir, 'hieradata/nodes/tmp.x7Gq2'), `colour: ${colour}\n`);
        await execa('mv', [join(r.dir, 'hieradata/nodes/tmp.x7Gq2'), straleb]);
        await saved(`mv over (${colour})`);
      }
      for (const rev of ['HEAD~1', 'HEAD']) {
        await git('checkout', rev, '--', STRALEB);
        await saved(`git checkout ${rev}`);
      }
      // vim with backupcopy=no: probe the directory with 4913, move the file to its backup, write anew, drop the backup.
      for (const colour of ['blue', 'yellow']) {
        writeFileSync(join(r.dir, 'hieradata/nodes/4913'), '');
        rmSync(join(r.dir, 'hieradata/nodes/4913'));
        renameSync(straleb, `${straleb}~`);
        writeFileSync(straleb, `colour: ${colour}\n`);
        rmSync(`${straleb}~`);
        await saved(`an editor writing anew (${colour})`);
      }
    } finally {
      await watch.stop();
    }
  });

  it('follows directories made, moved and removed while it watches', async () => {
    const watch = startWatch(r.dir, ['--name', r.name]);
    const changed = async (...paths: string[]) => {
      const v = await watch.next(20_000);
      expect(v.changed.slice().sort()).toEqual(paths.map((p) => join(r.dir, p)).sort());
      expect(v.results?.map((x) => x.fqdn)).toEqual(['barn.village.test', 'mill.village.test']); // a file of the rig: all
    };
    try {
      await watch.watching;
      mkdirSync(join(r.dir, 'extra/deep'), { recursive: true });
      writeFileSync(join(r.dir, 'extra/deep/a.txt'), 'one\n');
      await changed('extra/deep/a.txt');
      appendFileSync(join(r.dir, 'extra/deep/a.txt'), 'two\n');
      await changed('extra/deep/a.txt');
      renameSync(join(r.dir, 'extra'), join(r.dir, 'moved'));
      await changed('extra/deep/a.txt', 'moved/deep/a.txt');
      appendFileSync(join(r.dir, 'moved/deep/a.txt'), 'three\n');
      await changed('moved/deep/a.txt');
      rmSync(join(r.dir, 'moved'), { recursive: true });
      await changed('moved/deep/a.txt');
      mkdirSync(join(r.dir, 'moved/deep'), { recursive: true });
      writeFileSync(join(r.dir, 'moved/deep/b.txt'), 'four\n');
      await changed('moved/deep/b.txt');
      appendFileSync(join(r.dir, 'moved/deep/b.txt'), 'five\n');
      await changed('moved/deep/b.txt');
    } finally {
      await watch.stop();
      rmSync(join(r.dir, 'moved'), { recursive: true, force: true });
    }
  });

  it("ignores what git ignores and editors' temporaries, and reacts once to each edit", async () => {
    await git('init', '-q');
    writeFileSync(join(r.dir, '.gitignore'), '*.log\nbuild/\n');
    const watch = startWatch(r.dir, ['--name', r.name]);
    try {
      await watch.watching;
      // One burst: build output, a log, vim's probe and a swap file, and the edit.
      mkdirSync(join(r.dir, 'build'));
      writeFileSync(join(r.dir, 'build/out.o'), 'x');
      writeFileSync(join(r.dir, 'debug.log'), 'x');
      writeFileSync(join(r.dir, 'hieradata/nodes/4913'), '');
      rmSync(join(r.dir, 'hieradata/nodes/4913'));
      writeFileSync(join(r.dir, 'hieradata/nodes/.straleb.prod.example.yaml.swp'), 'x');
      writeFileSync(join(r.dir, STRALEB), 'colour: yellow\n');
      expect((await watch.next(20_000)).changed).toEqual([join(r.dir, STRALEB)]);
      // Ignored files alone are no change: the next verdict is the next edit's.
      writeFileSync(join(r.dir, 'build/out.o'), 'y');
      appendFileSync(join(r.dir, 'debug.log'), 'y');
      await new Promise((resolve) => setTimeout(resolve, 300)); // a burst of its own
      writeFileSync(join(r.dir, KELDA), 'colour: green\n');
      expect((await watch.next(20_000)).changed).toEqual([join(r.dir, KELDA)]);
      // A new rule in .gitignore counts at once (the .gitignore itself is a file of the rig).
      writeFileSync(join(r.dir, '.gitignore'), '*.log\nbuild/\nnotes.txt\n');
      expect((await watch.next(20_000)).changed).toEqual([join(r.dir, '.gitignore')]);
      writeFileSync(join(r.dir, 'notes.txt'), 'x');
      writeFileSync(join(r.dir, STRALEB), 'colour: blue\n');
      expect((await watch.next(20_000)).changed).toEqual([join(r.dir, STRALEB)]);
    } finally {
      await watch.stop();
    }
  });

  /** Two edits while a watch writes its output to a file in the rig's directory: two verdict lines there, no more. */
  async function twoEdits(file: string, watch: () => ReturnType<typeof execa>) {
    const log = () => (existsSync(join(r.dir, file)) ? readFileSync(join(r.dir, file), 'utf8') : '');
    const verdicts = () =>
      log()
        .split('\n')
        .filter((l) => /^\[\d\d:\d\d:\d\d\] /.test(l));
    const child = watch();
    try {
      expect(await eventually(async () => log().includes('watching '), 30_000, 50)).toBe(true);
      writeFileSync(join(r.dir, STRALEB), 'colour: yellow\n');
      expect(await eventually(async () => verdicts().length >= 1, 20_000, 50), log()).toBe(true);
      writeFileSync(join(r.dir, KELDA), 'colour: green\n');
      expect(await eventually(async () => verdicts().length >= 2, 20_000, 50), log()).toBe(true);
      expect(verdicts(), log()).toEqual([
        expect.stringMatching(
          /^\[[\d:]+\] PASS hieradata\/nodes\/straleb\.prod\.example\.yaml \(config of straleb\.prod\.example\): barn\.village\.test pass \([\d.]+ s\)$/,
        ),
        expect.stringMatching(
          /^\[[\d:]+\] PASS hieradata\/nodes\/kelda\.prod\.example\.yaml \(config of kelda\.prod\.example\): mill\.village\.test pass/,
        ),
      ]);
    } finally {
      process.kill(-child.pid!, 'SIGINT');
      await child;
      rmSync(join(r.dir, file), { force: true });
    }
  }

  it('never reacts to its own output: redirected to a file in the directory it watches', async () => {
    await twoEdits('watch.out', () =>
      execa('sh', ['-c', `exec node ${rigBin} watch --name ${r.name} > watch.out 2>&1`], {
        cwd: r.dir,
        env: { CI: 'true' },
        reject: false,
        detached: true,
      }),
    );
  });

  it('never reacts to its own output: piped to tee, which writes it to a file there', async () => {
    await twoEdits('tee.out', () =>
      execa('sh', ['-c', `node ${rigBin} watch --name ${r.name} 2>&1 | tee tee.out >/dev/null`], {
        cwd: r.dir,
        env: { CI: 'true' },
        reject: false,
        detached: true,
      }),
    );
  });
});
