import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { docker, eventually, fixtureDir, leftovers, queryA, rig, rigBin, uniqueName, useRig, vethsLeft } from './helpers.js';

interface StatusNode {
  fqdn: string;
  ip: string;
  stage: string;
}

const rigFile = (name: string, nodes: string) => `name: ${name}
domain: village.test
network: { internal: true }
configs:
  - dir: hieradata/nodes
nodes:
${nodes}`;

const before = `  barn.village.test: straleb.prod.example
  mill.village.test:
    mirrors: kelda.prod.example
    facts: { colour: red }
  well.village.test: hobb.prod.example
  yard.village.test:
`;

// well goes, mill's settings change, silo comes (mirroring the live node well mirrored), barn and yard stay.
const after = `  barn.village.test: straleb.prod.example
  mill.village.test:
    mirrors: kelda.prod.example
    facts: { colour: blue }
  yard.village.test:
  silo.village.test:
    mirrors: hobb.prod.example
    needs: [barn]
`;

describe('rig up of an edited rig file on a rig that is up: only the changes', () => {
  const name = uniqueName('reconcile');
  const fixture = fixtureDir(rigFile(name, before));
  const link = (node: string) => join(fixture.dir, 'hieradata/nodes', `${node}.village.test.yaml`);
  const containerIds = async () =>
    Object.fromEntries(
      (await docker(['ps', '-a', '--no-trunc', '--filter', `label=io.rig.rig=${name}`, '--format', '{{.Label "io.rig.node"}} {{.ID}}']))
        .split('\n')
        .filter((l) => l.startsWith(' ') === false && l.includes('.'))
        .map((l) => l.split(' ')),
    );
  const status = async (): Promise<{ dns: string; nodes: StatusNode[] }> =>
    JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
  let first: { dns: string; nodes: StatusNode[] };
  let firstIds: Record<string, string>;
  let reconcile: Awaited<ReturnType<typeof rig>>;
  const addressOf = (s: { nodes: StatusNode[] }, short: string) => s.nodes.find((n) => n.fqdn === `${short}.village.test`)?.ip;

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    first = await status();
    firstIds = await containerIds();
    writeFileSync(fixture.file, rigFile(name, after));
    reconcile = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
    expect(
      await vethsLeft(
        name,
        ['barn', 'mill', 'well', 'yard', 'silo'].map((n) => `${n}.village.test`),
      ),
    ).toEqual([]);
  });

  it('prints the plan, then applies it', () => {
    expect(reconcile.exitCode, reconcile.all).toBe(0);
    expect(reconcile.stderr).toMatch(
      /differs from rig\.yaml; changing only that:\nrig: {3}\+ silo\.village\.test \(new\)\nrig: {3}- well\.village\.test \(gone from the rig file\)\nrig: {3}~ mill\.village\.test \(settings changed\)\nrig: {3}= 2 nodes unchanged\n/,
    );
  });

  it('leaves the unchanged nodes untouched: same containers, same addresses, same links', async () => {
    const ids = await containerIds();
    expect(ids['barn.village.test']).toBe(firstIds['barn.village.test']);
    expect(ids['yard.village.test']).toBe(firstIds['yard.village.test']);
    const now = await status();
    expect(addressOf(now, 'barn')).toBe(addressOf(first, 'barn'));
    expect(addressOf(now, 'yard')).toBe(addressOf(first, 'yard'));
    expect(readlinkSync(link('barn'))).toBe('straleb.prod.example.yaml');
    const log = await rig(['logs', 'barn', '--name', name]);
    expect(log.stdout.match(/ready: barn\.village\.test/g)).toHaveLength(1); // provisioned once, at the first up
  });

  it('recreates the changed node with its new settings, at its old address', async () => {
    const ids = await containerIds();
    expect(ids['mill.village.test']).toBeDefined();
    expect(ids['mill.village.test']).not.toBe(firstIds['mill.village.test']);
    expect(addressOf(await status(), 'mill')).toBe(addressOf(first, 'mill'));
    expect((await rig(['facts', 'mill', 'colour', '--name', name])).stdout.trim()).toBe('blue');
    expect(readlinkSync(link('mill'))).toBe('kelda.prod.example.yaml');
  });

  it('removes the node gone from the rig file, with its link, its facts and its name', async () => {
    expect((await containerIds())['well.village.test']).toBeUndefined();
    expect(existsSync(link('well')) || !!lstatSync(link('well'), { throwIfNoEntry: false })).toBe(false);
    const now = await status();
    expect(now.nodes.map((n) => n.fqdn)).not.toContain('well.village.test');
    expect(await queryA(now.dns, 'well.village.test')).toEqual([]);
    expect((await rig(['facts', 'well', '--name', name])).exitCode).toBe(2);
  });

  it('adds the new node, ready, linked, named in DNS and under the live name it mirrors', async () => {
    const now = await status();
    const silo = now.nodes.find((n) => n.fqdn === 'silo.village.test');
    expect(silo?.stage).toBe('ready');
    expect(['barn', 'mill', 'yard'].map((n) => addressOf(now, n))).not.toContain(silo?.ip);
    expect(readlinkSync(link('silo'))).toBe('hobb.prod.example.yaml');
    expect(await queryA(now.dns, 'silo.village.test')).toEqual([silo!.ip]);
    expect(await queryA(now.dns, 'hobb.prod.example')).toEqual([silo!.ip]);
    const fromBarn = await rig(['exec', 'barn', '--name', name, '--', 'getent', 'ahostsv4', 'silo.village.test']);
    expect(fromBarn.stdout).toContain(silo!.ip);
  });

  it('takes the same rig file again as nothing to do', async () => {
    const again = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stderr).toContain('nothing to do');
  });
});

describe('a reconcile that fails, and one the rig cannot take', () => {
  const rigFileOf = (rigName: string, nodes: string, domain = 'village.test') =>
    `name: ${rigName}\ndomain: ${domain}\nnetwork: { internal: true }\nconfigs:\n  - dir: hieradata/nodes\nnodes:\n${nodes}`;
  const r = useRig('reconfail', (rigName) => rigFileOf(rigName, '  barn.village.test:\n'));
  const file = (nodes: string, domain?: string) => rigFileOf(r.name, nodes, domain);
  const rigFile = () => join(r.dir, 'rig.yaml');
  const barnId = async () =>
    docker(['ps', '-q', '--no-trunc', '--filter', `label=io.rig.node=barn.village.test`, '--filter', `label=io.rig.rig=${r.name}`]);

  it('leaves the rig up when a new node fails, says how to go on, and makes that node again on the next up', async () => {
    const barn = await barnId();
    writeFileSync(
      rigFile(),
      file('  barn.village.test:\n  mill.village.test:\n    provision:\n      - shell: "echo the disk is full >&2; exit 3"\n'),
    );
    const failed = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(failed.exitCode, failed.all).toBe(1);
    expect(failed.stderr).toContain('mill.village.test failed: step 1/1 (shell) exited 3');
    expect(failed.stderr).toContain('the disk is full');
    expect(failed.stderr).toContain(`stays up as far as the changes got`);
    expect(await barnId()).toBe(barn);

    writeFileSync(rigFile(), file('  barn.village.test:\n  mill.village.test:\n    provision:\n      - shell: "echo fixed"\n'));
    const fixed = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(fixed.exitCode, fixed.all).toBe(0);
    expect(fixed.stderr).toContain('~ mill.village.test (settings changed)');
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.map((n: { fqdn: string; stage: string }) => [n.fqdn, n.stage])).toEqual([
      ['barn.village.test', 'ready'],
      ['mill.village.test', 'ready'],
    ]);
    expect(await barnId()).toBe(barn);
  });

  it('makes again a node that is not running, with nothing changed in the rig file', async () => {
    await docker(['stop', '-t', '0', `rig-${r.name}.mill`]);
    const again = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stderr).toContain('~ mill.village.test (not running or not ready: made again)');
    expect((await docker(['inspect', '-f', '{{.State.Running}}', `rig-${r.name}.mill`])).trim()).toBe('true');
  });

  it("refuses, before it changes anything, a new node whose link would overwrite the user's file", async () => {
    const before = await barnId();
    writeFileSync(join(r.dir, 'hieradata/nodes/silo.village.test.yaml'), 'mine: true\n');
    writeFileSync(
      rigFile(),
      file(
        '  barn.village.test:\n  mill.village.test:\n    provision:\n      - shell: "echo fixed"\n  silo.village.test: hobb.prod.example\n',
      ),
    );
    const refused = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(refused.exitCode, refused.all).toBe(2);
    expect(refused.stderr).toContain('silo.village.test.yaml already exists');
    expect(readFileSync(join(r.dir, 'hieradata/nodes/silo.village.test.yaml'), 'utf8')).toBe('mine: true\n');
    expect(await barnId()).toBe(before);
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.map((n: StatusNode) => n.fqdn)).toEqual(['barn.village.test', 'mill.village.test']);
    writeFileSync(rigFile(), file('  barn.village.test:\n  mill.village.test:\n    provision:\n      - shell: "echo fixed"\n'));
  });

  it('refuses a change of the rig itself without --recreate, touching nothing', async () => {
    const barn = await barnId();
    writeFileSync(
      rigFile(),
      file('  barn.village.test:\n  mill.village.test:\n    provision:\n      - shell: "echo fixed"\n', 'hamlet.test').replaceAll(
        'village.test:',
        'hamlet.test:',
      ),
    );
    const refused = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('~ the rig: domain village.test -> hamlet.test');
    expect(refused.stderr).toContain('that is a new rig');
    expect(refused.stderr).toContain('--recreate');
    expect(await barnId()).toBe(barn);
  });
});

describe('a reconcile that adds and removes an LXC node beside a Docker one', () => {
  const name = uniqueName('reclxc');
  const file = (nodes: string) =>
    `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs:\n  - dir: hieradata/nodes\nnodes:\n${nodes}`;
  const fixture = fixtureDir(file('  barn.village.test: straleb.prod.example\n'));
  const lxcNodes = async () => (await execa('lxc-ls', ['-1'])).stdout.split('\n').filter((n) => n.startsWith(`rig-${name}.`));

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
    expect(await lxcNodes()).toEqual([]);
  });

  it('starts the LXC node ready and linked, then removes it with its link', async () => {
    expect((await rig(['up', 'rig.yaml'], { cwd: fixture.dir })).exitCode).toBe(0);
    writeFileSync(
      fixture.file,
      file('  barn.village.test: straleb.prod.example\n  mill.village.test:\n    mirrors: kelda.prod.example\n    backend: lxc\n'),
    );
    const added = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(added.exitCode, added.all).toBe(0);
    expect(await lxcNodes()).toEqual([`rig-${name}.mill`]);
    const fromBarn = await rig(['exec', 'barn', '--name', name, '--', 'getent', 'ahostsv4', 'kelda.prod.example']);
    const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    const mill = status.nodes.find((n: StatusNode) => n.fqdn === 'mill.village.test');
    expect(mill.stage).toBe('ready');
    expect(fromBarn.stdout).toContain(mill.ip);
    const link = join(fixture.dir, 'hieradata/nodes/mill.village.test.yaml');
    expect(readlinkSync(link)).toBe('kelda.prod.example.yaml');

    writeFileSync(fixture.file, file('  barn.village.test: straleb.prod.example\n'));
    const removed = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(removed.exitCode, removed.all).toBe(0);
    expect(await lxcNodes()).toEqual([]);
    expect(lstatSync(link, { throwIfNoEntry: false })).toBeUndefined();
  });

  it('removes a link a reconcile made when the rig goes down', async () => {
    writeFileSync(
      fixture.file,
      file('  barn.village.test: straleb.prod.example\n  mill.village.test:\n    mirrors: kelda.prod.example\n    backend: lxc\n'),
    );
    expect((await rig(['up', 'rig.yaml'], { cwd: fixture.dir })).exitCode).toBe(0);
    const link = join(fixture.dir, 'hieradata/nodes/mill.village.test.yaml');
    expect(readlinkSync(link)).toBe('kelda.prod.example.yaml');
    const down = await rig(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect(lstatSync(link, { throwIfNoEntry: false })).toBeUndefined();
    expect(lstatSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml'), { throwIfNoEntry: false })).toBeUndefined();
  });
});

describe('Ctrl-C during a reconcile', () => {
  const name = uniqueName('recint');
  const file = (nodes: string) => `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n${nodes}`;
  const fixture = fixtureDir(file('  barn.village.test:\n'));

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('stops it with exit 130, leaves the rig up as far as it got, and up again finishes it', async () => {
    expect((await rig(['up', 'rig.yaml'], { cwd: fixture.dir })).exitCode).toBe(0);
    const barn = await docker(['ps', '-q', '--no-trunc', '--filter', `name=rig-${name}.barn`]);
    writeFileSync(fixture.file, file('  barn.village.test:\n  slow.village.test:\n    provision:\n      - shell: sleep 600\n'));
    const child = execa('node', [rigBin, 'up', 'rig.yaml'], { cwd: fixture.dir, env: { CI: 'true' }, reject: false, all: true });
    let out = '';
    child.all!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    expect(await eventually(async () => out.includes('slow.village.test: provisioning 1/1'), 60_000, 100), out).toBe(true);
    child.kill('SIGINT');
    const ended = await child;
    expect(ended.exitCode, out).toBe(130);
    expect(out).toContain('stays up as far as the changes got');
    expect(await docker(['ps', '-q', '--no-trunc', '--filter', `name=rig-${name}.barn`])).toBe(barn);
    expect((await rig(['status', '--name', name])).exitCode).not.toBe(2); // the rig is still up

    writeFileSync(fixture.file, file('  barn.village.test:\n  slow.village.test:\n    provision:\n      - shell: "true"\n'));
    const again = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(again.exitCode, again.all).toBe(0);
    const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    expect(status.nodes.map((n: StatusNode) => `${n.fqdn} ${n.stage}`)).toEqual(['barn.village.test ready', 'slow.village.test ready']);
    expect(await docker(['ps', '-q', '--no-trunc', '--filter', `name=rig-${name}.barn`])).toBe(barn);
  });
});
