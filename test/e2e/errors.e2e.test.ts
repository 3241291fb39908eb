import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { docker, fixtureDir, leftovers, rig, snapshot, uniqueName } from './helpers.js';

// An image whose /run is a file: Docker cannot mount the agent's tmpfs there, so the node fails to start
// after the network, the links and the sidecars exist.
const brokenImage = `rigtest-broken:${process.pid}`;

const rigFile = (name: string, extra = '') => `
name: ${name}
domain: village.test
network:
  internal: true
configs:
  - dir: hieradata/nodes
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test: kelda.prod.example
${extra}`;

beforeAll(async () => {
  const context = mkdtempSync(join(tmpdir(), 'rig-broken-'));
  writeFileSync(join(context, 'run'), 'not a directory\n');
  writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY run /run\n');
  await docker(['build', '-q', '-t', brokenImage, context]);
  await execa('rm', ['-rf', context]);
});

afterAll(async () => {
  await docker(['rmi', '-f', brokenImage]).catch(() => {});
});

describe('bad input is refused before anything is made', () => {
  it('reports a rig file error with file, line, key path and a fix, exit code 2', async () => {
    const fixture = fixtureDir('name: x\nnodes:\n  barn.village.test:\n    mirrors: straleb.prod.example\n    imgae: debian\n');
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(2);
      expect(up.stderr).toContain('rig.yaml:5:5: nodes["barn.village.test"].imgae');
      expect(up.stderr).toMatch(/did you mean "?image"?/i);
      expect(await leftovers('x')).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it('reports a YAML syntax error with its line', async () => {
    const fixture = fixtureDir('barn.village.test: straleb.prod.example\nmill.village.test: [unclosed\n');
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(2);
      expect(up.stderr).toMatch(/rig\.yaml:\d+:\d+/);
    } finally {
      fixture.cleanup();
    }
  });

  it("refuses to overwrite a real file at a link's path, and changes nothing", async () => {
    const name = uniqueName('clobber');
    const fixture = fixtureDir(rigFile(name));
    const mine = join(fixture.dir, 'hieradata/nodes/mill.village.test.yaml');
    writeFileSync(mine, 'my own notes\n');
    const before = snapshot(fixture.dir);
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(2);
      expect(up.stderr).toContain(`${mine} already exists`);
      expect(up.stderr).toContain('nothing was created');
      expect(readFileSync(mine, 'utf8')).toBe('my own notes\n');
      expect(snapshot(fixture.dir)).toEqual(before);
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it('lists every missing live node config at once', async () => {
    const name = uniqueName('missing');
    const fixture = fixtureDir(rigFile(name, '  well.village.test: nowhere.prod.example\n  pump.village.test: gone.prod.example\n'));
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(2);
      expect(up.stderr).toContain('nowhere.prod.example.yaml (mirrored by well.village.test)');
      expect(up.stderr).toContain('gone.prod.example.yaml (mirrored by pump.village.test)');
      expect(existsSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe(false);
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it('names a node image that is not in the engine', async () => {
    const name = uniqueName('noimage');
    const fixture = fixtureDir(rigFile(name, '  well.village.test:\n    image: rigtest-no-such-image:1\n'));
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(2);
      expect(up.stderr).toContain('rigtest-no-such-image:1 not found');
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it('says clearly when no Docker engine answers, exit code 3', async () => {
    const fixture = fixtureDir(rigFile(uniqueName('noengine')));
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir, env: { DOCKER_HOST: 'unix:///tmp/rig-no-such-docker.sock' } });
      expect(up.exitCode).toBe(3);
      expect(up.stderr).toContain('No Docker engine answers at unix:///tmp/rig-no-such-docker.sock');
      expect(up.stderr).toContain('fix:');
    } finally {
      fixture.cleanup();
    }
  });
});

describe('a failing up', () => {
  it('removes everything it made: containers, network, firewall rule and symlinks', async () => {
    const name = uniqueName('fail');
    const fixture = fixtureDir(rigFile(name, `  well.village.test:\n    image: ${brokenImage}\n`));
    const before = snapshot(fixture.dir);
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).not.toBe(0);
      expect(up.exitCode).not.toBe(70); // a user-facing error, not a crash
      expect(up.stderr).toContain('rig-' + name + '.well');
      expect(await leftovers(name)).toEqual([]);
      expect(snapshot(fixture.dir)).toEqual(before);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });

  it('keeps what it made with --keep-on-failure, and says how to remove it', async () => {
    const name = uniqueName('keep');
    const fixture = fixtureDir(rigFile(name, `  well.village.test:\n    image: ${brokenImage}\n`));
    try {
      const up = await rig(['up', 'rig.yaml', '--keep-on-failure'], { cwd: fixture.dir });
      expect(up.exitCode).not.toBe(0);
      expect(up.stderr).toContain(`rig down --name ${name}`);
      expect(await leftovers(name)).not.toEqual([]);
      expect(existsSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe(true);
      const down = await rig(['down', '--name', name]);
      expect(down.exitCode).toBe(0);
      expect(await leftovers(name)).toEqual([]);
      expect(existsSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe(false);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });
});
