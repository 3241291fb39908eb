import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { docker, fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

describe('rigs never meet in container names', () => {
  // Rig relq with a node x-sidecar, and rig relq-x: with "rig-<rig>-<node>" both made rig-relq-x-sidecar.
  const relq = uniqueName('relq');
  const relqX = `${relq}-x`;
  const first = fixtureDir(`name: ${relq}\ndomain: relq.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  x-sidecar.relq.test:\n`);
  const second = fixtureDir(`name: ${relqX}\ndomain: relq.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.relq.test:\n`);

  afterAll(async () => {
    await Promise.all([rig(['down', '--name', relq]), rig(['down', '--name', relqX])]);
    first.cleanup();
    second.cleanup();
    expect([...(await leftovers(relq)), ...(await leftovers(relqX))]).toEqual([]);
  });

  it('brings up both, each whole', async () => {
    const a = await rig(['up', 'rig.yaml'], { cwd: first.dir });
    expect(a.exitCode, a.all).toBe(0);
    const b = await rig(['up', 'rig.yaml'], { cwd: second.dir });
    expect(b.exitCode, b.all).toBe(0);
    for (const [name, node] of [
      [relq, 'x-sidecar.relq.test'],
      [relqX, 'a.relq.test'],
    ]) {
      const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
      expect(status.sidecar).toBe('running');
      expect(status.nodes.map((n: { fqdn: string; stage: string }) => [n.fqdn, n.stage])).toEqual([[node, 'ready']]);
    }
  });
});

describe('one rig file up under two names', () => {
  const one = uniqueName('twin');
  const two = `${one}-b`;
  const fixture = fixtureDir(
    `domain: village.test\nnetwork: { internal: true }\nconfigs:\n  - dir: hieradata/nodes\nnodes:\n  barn.village.test: straleb.prod.example\n  mill.village.test: kelda.prod.example\n`,
  );
  const link = (node: string) => join(fixture.dir, 'hieradata/nodes', `${node}.village.test.yaml`);

  afterAll(async () => {
    await Promise.all([rig(['down', '--name', one]), rig(['down', '--name', two])]);
    expect(existsSync(link('barn'))).toBe(false);
    fixture.cleanup();
    expect([...(await leftovers(one)), ...(await leftovers(two))]).toEqual([]);
  });

  it('keeps the links while either rig is up, and the last down removes them; a link the user made stays', async () => {
    // A link made by the user, exactly as rig would make it, for a node of neither rig: the user's, never rig's.
    symlinkSync('straleb.prod.example.yaml', link('users'));
    for (const name of [one, two]) {
      const up = await rig(['up', 'rig.yaml', '--name', name], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
    }
    // A name that is not up: exit 2, naming the rigs that are, and nothing of theirs removed.
    const typo = await rig(['down', '--name', `${one}-c`]);
    expect(typo.exitCode, typo.all).toBe(2);
    expect(typo.stderr).toContain(`No rig named ${one}-c is up, so nothing was removed`);
    expect(/the rigs on this host: (.*)/.exec(typo.stderr)?.[1].split(', ')).toEqual(expect.arrayContaining([one, two]));
    expect(typo.stdout).toBe('');
    for (const node of ['barn', 'mill']) expect(readlinkSync(link(node)), node).toMatch(/\.prod\.example\.yaml$/);

    const down = await rig(['down', '--name', one]);
    expect(down.exitCode, down.all).toBe(0);
    for (const node of ['barn', 'mill']) expect(readlinkSync(link(node)), node).toMatch(/\.prod\.example\.yaml$/);
    // The remaining rig's nodes still read their live data through the links.
    const read = await rig(['exec', 'barn', '--name', two, '--', 'cat', '/.rig-repo/hieradata/nodes/barn.village.test.yaml']);
    expect(read.exitCode, read.all).toBe(0);
    expect(read.stdout).toBe(readFileSync(join(fixture.dir, 'hieradata/nodes/straleb.prod.example.yaml'), 'utf8').trimEnd());

    const last = await rig(['down', '--name', two]);
    expect(last.exitCode, last.all).toBe(0);
    expect(existsSync(link('barn')) || existsSync(link('mill'))).toBe(false);
    expect(readlinkSync(link('users'))).toBe('straleb.prod.example.yaml');
  });
});

describe('a link the user made, where rig would make one', () => {
  it('is used while the rig is up and left in place by down', async () => {
    const name = uniqueName('users');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork: { internal: true }\nconfigs:\n  - dir: hieradata/nodes\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    const link = join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml');
    symlinkSync('straleb.prod.example.yaml', link);
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
      const down = await rig(['down', '--name', name]);
      expect(down.exitCode, down.all).toBe(0);
      expect(down.stdout).toContain('and 0 symlinks');
      expect(readlinkSync(link)).toBe('straleb.prod.example.yaml');
      expect(await leftovers(name)).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });
});

describe("a container that is not rig's, attached to a rig network", () => {
  it('is disconnected and left running; down removes the rest and says so', async () => {
    const name = uniqueName('guest');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork: { internal: true }\nconfigs:\n  - dir: hieradata/nodes\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    const guest = `${name}-guest`;
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
      const image = (await docker(['images', 'rig/base', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n')[0];
      await docker(['run', '-d', '--name', guest, '--network', `rig-${name}`, image, 'sleep', '300']);

      const down = await rig(['down', '--name', name]);
      expect(down.exitCode, down.all).toBe(0);
      expect(down.stdout).toContain(`${guest} was attached to its network and is not rig's: disconnected it, left it running`);
      expect(await leftovers(name)).toEqual([]); // containers, network and firewall rule
      expect(existsSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe(false);
      expect(await docker(['inspect', '-f', '{{.State.Running}}', guest])).toBe('true');
    } finally {
      await docker(['rm', '-f', guest]).catch(() => {});
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });
});

describe('where rig makes its links', () => {
  it("refuses a config dir outside the rig file's repository, or a link out of it, at load", async () => {
    const name = uniqueName('etc');
    for (const [configs, where] of [
      ['  - dir: /etc\n    file: "{node}"', "rig.yaml:4:10: configs[0].dir: /etc is outside the rig file's repository"],
      ['  - dir: sneaky\n    file: "{node}"', "configs[0].dir: sneaky is outside the rig file's repository"],
      // Through the directory part of the file template: the links would be made in hieradata/sneaky, that is /etc.
      [
        '  - dir: hieradata\n    file: "sneaky/{node}"',
        "rig.yaml:5:11: configs[0].file: hieradata/sneaky is outside the rig file's repository",
      ],
    ]) {
      const fixture = fixtureDir(
        `name: ${name}\nnetwork: { internal: true }\nconfigs:\n${configs}\nnodes:\n  barn.village.test: hostname\n`,
      );
      symlinkSync('/etc', join(fixture.dir, 'sneaky'));
      symlinkSync('/etc', join(fixture.dir, 'hieradata/sneaky'));
      try {
        const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
        expect(up.exitCode, up.all).toBe(2);
        expect(up.stderr).toContain(where);
        expect(existsSync('/etc/barn.village.test')).toBe(false);
        expect(await leftovers(name)).toEqual([]);
      } finally {
        fixture.cleanup();
      }
    }
  });

  it('links there with outside_repo: true, and removes the links on down', async () => {
    const name = uniqueName('outside');
    const elsewhere = fixtureDir('');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork: { internal: true }\nconfigs:\n  - dir: ${elsewhere.dir}/hieradata/nodes\n    outside_repo: true\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
      expect(readlinkSync(join(elsewhere.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe('straleb.prod.example.yaml');
      expect((await rig(['down', '--name', name])).exitCode).toBe(0);
      expect(existsSync(join(elsewhere.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe(false);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
      elsewhere.cleanup();
    }
  });

  it('links a per-node directory ({node}/main.yml) whole', async () => {
    const name = uniqueName('hostvars');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork: { internal: true }\nconfigs:\n  - dir: host_vars\n    file: "{node}/main.yml"\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    mkdirSync(join(fixture.dir, 'host_vars/straleb.prod.example'), { recursive: true });
    writeFileSync(join(fixture.dir, 'host_vars/straleb.prod.example/main.yml'), 'redis_role: master\n');
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
      const read = await rig(['exec', 'barn', '--name', name, '--', 'cat', '/.rig-repo/host_vars/barn.village.test/main.yml']);
      expect(read.stdout.trim()).toBe('redis_role: master');
      expect((await rig(['down', '--name', name])).exitCode).toBe(0);
      expect(existsSync(join(fixture.dir, 'host_vars/barn.village.test'))).toBe(false);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });

  it('refuses a file template whose directory does not exist, at load', async () => {
    const name = uniqueName('nosub');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork: { internal: true }\nconfigs:\n  - dir: hieradata/nodes\n    file: "sub/{node}.yaml"\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(2);
      expect(up.stderr).toContain('rig.yaml:5:11: configs[0].file: there is no directory hieradata/nodes/sub');
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it('refuses a config dir on a read-only file system before anything is made', async () => {
    const name = uniqueName('ro');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork: { internal: true }\nconfigs:\n  - dir: ro\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    const ro = join(fixture.dir, 'ro');
    mkdirSync(ro);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', ro]);
    try {
      writeFileSync(join(ro, 'straleb.prod.example.yaml'), 'x: 1\n');
      await execa('mount', ['-o', 'remount,ro', ro]);
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(2);
      expect(up.stderr).toContain(`${ro}: on a read-only file system`);
      expect(await leftovers(name)).toEqual([]);
    } finally {
      await execa('umount', [ro]);
      fixture.cleanup();
    }
  });
});
