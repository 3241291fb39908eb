import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, fixtureDir, leftovers, rig, uniqueName } from './helpers.js';
import { schemaErrors } from '../schemas.js';

interface Row {
  ref: string;
  image: string;
  current: boolean;
  usedBy: string[];
  for?: { file: string; nodes: string[]; context: string };
}

/** A rig of one node whose image the rig file builds from ./<context>, FROM rig:base; with `lxc`, an LXC node of it too. */
const rigFile = (name: string, context: string, lxc = false) =>
  `name: ${name}\ndomain: build.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a:\n    build: ./${context}\n` +
  (lxc ? `  l:\n    backend: lxc\n    build: ./${context}\n` : '');

describe('build: in the rig file', () => {
  const name = uniqueName('bld');
  const context = `img-${name}`; // the tags are rig-build/<context>:<hash>: this file's own
  const fixture = fixtureDir(rigFile(name, context, true));
  const failing = uniqueName('bldf');
  const dockerfile = (text: string) => {
    mkdirSync(join(fixture.dir, context), { recursive: true });
    writeFileSync(join(fixture.dir, context, 'Dockerfile'), `FROM rig:base\nRUN echo ${text} > /built.txt\n`);
  };
  const built = async () =>
    (await docker(['images', '--filter', `reference=rig-build/${context}`, '--format', '{{.Tag}} {{.ID}}'])).split('\n').filter(Boolean);
  const file = (node = 'a') => rig(['exec', '--name', name, node, '--', 'cat', '/built.txt']);

  afterAll(async () => {
    await rig(['down', '--name', name]);
    await rig(['down', '--name', failing]);
    // Only the images this file built: its own context names their repository.
    const ids = (
      await docker(['images', '-q', '--filter', `reference=rig-build/img-${name}*`, '--filter', `reference=rig-build/img-${failing}*`])
    )
      .split('\n')
      .filter(Boolean);
    if (ids.length) await docker(['rmi', '-f', ...new Set(ids)]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('builds FROM rig:base once, and its Docker and LXC nodes run what the Dockerfile made', async () => {
    dockerfile('one');
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    expect(up.all).toMatch(new RegExp(`building rig-build/${context}:[0-9a-f]{12} from .*Dockerfile for a.build.test`));
    expect(up.all).toMatch(/Step 1\/\d+ : FROM rig\/base:[0-9a-f]{12}/); // rig's name resolved to its tag
    expect((await file()).stdout).toBe('one');
    expect((await file('l')).stdout).toBe('one');
    expect(await built()).toHaveLength(1);
  });

  it('builds nothing again while the context is unchanged: the same image, no build step', async () => {
    const before = await built();
    expect((await rig(['down', '--name', name])).exitCode).toBe(0);
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    expect(up.all).not.toMatch(/building rig-build|Step 1\//);
    expect(await built()).toEqual(before);
    expect((await file()).stdout).toBe('one');
  });

  it('rebuilds on an edit to the Dockerfile, and up of the running rig replaces its nodes with the new image', async () => {
    const [before] = await built();
    dockerfile('two');
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    expect(up.all).toMatch(/~ a\.build\.test \(settings changed\)/);
    expect(up.all).toMatch(/~ l\.build\.test \(settings changed\)/);
    expect(up.all).toMatch(/building rig-build\//);
    expect((await file()).stdout).toBe('two');
    expect((await file('l')).stdout).toBe('two');
    const after = await built();
    expect(after).toHaveLength(2);
    expect(after).toContain(before);
  });

  it('rig images --json lists the builds: what each was built for, which one the rig file asks for now, the rig using it', async () => {
    const listed = await rig(['images', '--json']);
    expect(listed.exitCode, listed.all).toBe(0);
    const rows = JSON.parse(listed.stdout) as Row[];
    expect(schemaErrors('images-list', rows)).toEqual([]);
    const mine = rows.filter((r) => r.ref.startsWith(`rig-build/${context}:`));
    expect(mine).toHaveLength(2);
    const [now, older] = [mine.find((r) => r.current)!, mine.find((r) => !r.current)!];
    expect(now.image).toBe('build');
    expect(now.for).toEqual({ file: fixture.file, nodes: ['a.build.test', 'l.build.test'], context: join(fixture.dir, context) });
    expect(now.usedBy).toEqual([name]);
    expect(older.usedBy).toEqual([]);
    const prune = await rig(['images', 'prune', '--dry-run']);
    expect(prune.stdout).toContain(`would remove ${older.ref} `);
    expect(prune.stdout).not.toContain(`would remove ${now.ref} `);
  });

  it('a failing build is exit 1 with the end of its output, and leaves nothing of the rig', async () => {
    const dir = join(fixture.dir, 'failing');
    mkdirSync(join(dir, `img-${failing}`), { recursive: true });
    writeFileSync(join(dir, `img-${failing}`, 'Dockerfile'), 'FROM rig:base\nRUN echo the disk is full; exit 3\n');
    writeFileSync(join(dir, 'rig.yaml'), rigFile(failing, `img-${failing}`));
    const up = await rig(['up', 'rig.yaml'], { cwd: dir });
    expect(up.exitCode, up.all).toBe(1);
    expect(up.stderr).toMatch(/Building rig-build\/.* failed: .*returned a non-zero code: 3/);
    expect(up.stderr).toMatch(/the end of the build's output:\n(.*\n)*.*the disk is full/);
    expect(await leftovers(failing)).toEqual([]);
  });

  it('bad input is exit 2 at its place, before anything is made: a missing context, FROM an image rig does not build', async () => {
    const dir = join(fixture.dir, 'bad');
    mkdirSync(join(dir, 'nope-image'), { recursive: true });
    writeFileSync(join(dir, 'rig.yaml'), rigFile(failing, 'missing'));
    const missing = await rig(['up', 'rig.yaml'], { cwd: dir });
    expect(missing.exitCode, missing.all).toBe(2);
    expect(missing.stderr).toContain(`rig.yaml:7:12: nodes.a.build: build context ./missing does not exist`);
    writeFileSync(join(dir, 'nope-image', 'Dockerfile'), 'FROM rig:nope\n');
    writeFileSync(join(dir, 'rig.yaml'), rigFile(failing, 'nope-image'));
    const nope = await rig(['up', 'rig.yaml'], { cwd: dir });
    expect(nope.exitCode, nope.all).toBe(2);
    expect(nope.stderr).toContain(`${join(dir, 'nope-image', 'Dockerfile')}:1: FROM rig:nope (node a.build.test)`);
    expect(await leftovers(failing)).toEqual([]);
  });
});
