import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { docker, eventually, expectAgreedAddress, fixtureDir, leftovers, queryA, rig, snapshot, uniqueName, vethsLeft } from './helpers.js';

// A node image that is not Debian and has nothing in it but an os-release: rig's agent brings all it needs.
const plainImage = `rigtest-plain:${process.pid}`;

const rigFile = (name: string) => `
name: ${name}
domain: village.test
network:
  internal: true
configs:
  - dir: hieradata/nodes
facts:
  environment: e2e
nodes:
  barn.village.test: straleb.prod.example
  mill: kelda.prod.example
  well.village.test:
    mirrors: hobb.prod.example
    image: ${plainImage}
    facts:
      role: app
      ports: [80, 443]
      motd: "Grüße aus dem Dorf\\nzweite Zeile"
`;

interface StatusNode {
  fqdn: string;
  ip: string;
  mirrors: string;
  stage: string;
}

describe('rig up / status / facts / down on the real Docker engine', () => {
  const name = uniqueName('core');
  const fixture = fixtureDir(rigFile(name));
  const before = snapshot(fixture.dir);
  let nodes: StatusNode[] = [];
  let subnet = '';
  let dns = '';

  beforeAll(async () => {
    const context = join(fixture.dir, '..', `plain-${name}`);
    await execa('mkdir', ['-p', context]);
    await execa('sh', [
      '-c',
      `printf 'ID=plainlinux\\nPRETTY_NAME="Plain Linux 1"\\n' > ${context}/os-release && printf 'FROM scratch\\nCOPY os-release /etc/os-release\\n' > ${context}/Dockerfile`,
    ]);
    await docker(['build', '-q', '-t', plainImage, context]);
    await execa('rm', ['-rf', context]);

    const up = await rig(['up', fixture.file], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    const status = await rig(['status', '--name', name, '--json']);
    expect(status.exitCode, status.all).toBe(0);
    const [rigStatus] = JSON.parse(status.stdout);
    nodes = rigStatus.nodes;
    subnet = rigStatus.subnet;
    dns = rigStatus.dns;
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    await docker(['rmi', '-f', plainImage]).catch(() => {});
    fixture.cleanup();
  });

  it('brings every node to ready, each mirroring its live node', () => {
    expect(nodes.map((n) => [n.fqdn, n.mirrors, n.stage])).toEqual([
      ['barn.village.test', 'straleb.prod.example', 'ready'],
      ['mill.village.test', 'kelda.prod.example', 'ready'],
      ['well.village.test', 'hobb.prod.example', 'ready'],
    ]);
  });

  it('gives each node one address on eth0, in the rig subnet, equal to its lease, its status and its ipaddress fact', async () => {
    const leases = await docker(['exec', `rig-${name}.sidecar`, 'cat', '/var/lib/misc/dnsmasq.leases']);
    const prefix = subnet.split('.').slice(0, 3).join('.') + '.';
    for (const node of nodes) {
      const ip = await docker([
        'exec',
        `rig-${name}.${node.fqdn.split('.')[0]}`,
        '/.rig/bin/ip',
        '-4',
        '-o',
        'addr',
        'show',
        'dev',
        'eth0',
      ]);
      const address = await expectAgreedAddress(name, node, ip, leases);
      expect(address.startsWith(prefix), `${address} in ${subnet}`).toBe(true);
    }
  });

  it('lets every node resolve every other by FQDN and short name, and back from its address', async () => {
    for (const from of nodes) {
      const container = `rig-${name}.${from.fqdn.split('.')[0]}`;
      for (const to of nodes) {
        for (const query of [to.fqdn, to.fqdn.split('.')[0]]) {
          // busybox nslookup tries every search domain and fails if one is NXDOMAIN (the live domains are on the
          // list too): its exit code says nothing here, the address it found does.
          const out = await docker(['exec', container, '/.rig/bin/sh', '-c', '/.rig/bin/nslookup -type=a "$0"; true', query]);
          expect(out, `${from.fqdn} resolving ${query}`).toContain(`Address: ${to.ip}`);
        }
      }
    }
    const reverse = await docker(['exec', `rig-${name}.barn`, 'getent', 'hosts', nodes[1].ip]);
    expect(reverse).toContain('mill.village.test');
    const short = await docker(['exec', `rig-${name}.barn`, 'getent', 'hosts', 'well']);
    expect(short).toContain(nodes[2].ip);
  });

  it("answers the host's DNS queries at the address rig status gives", async () => {
    expect(await queryA(dns, 'mill.village.test')).toEqual([nodes[1].ip]);
  });

  it('has every node publish its own facts to etcd from inside', async () => {
    const facts = await rig(['facts', 'well', '--name', name, '--json']);
    expect(facts.exitCode, facts.all).toBe(0);
    const well = JSON.parse(facts.stdout);
    // os comes from the node's own /etc/os-release, so it was gathered inside the node.
    expect(well).toMatchObject({
      hostname: 'well',
      fqdn: 'well.village.test',
      ipaddress: nodes[2].ip,
      os: 'plainlinux',
      os_release: 'Plain Linux 1',
      rig: name,
      mirrors: 'hobb.prod.example',
      environment: 'e2e',
      role: 'app',
      ports: '[80,443]',
      motd: 'Grüße aus dem Dorf\nzweite Zeile',
    });
    expect(well.macaddress).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    const barn = await rig(['facts', 'barn.village.test', '--name', name]);
    expect(barn.stdout).toMatch(/os\s+debian/);
    const yaml = await rig(['facts', 'mill', 'os', '--name', name]);
    expect(yaml.stdout.trim()).toBe('debian');
    // A node sets facts from inside: any bytes the shell can carry, tabs, newlines and UTF-8 included.
    for (const value of ['plain', 'with\ttab', 'two\nlines', 'café ☕ = ok', '']) {
      await docker(['exec', `rig-${name}.mill`, '/.rig/bin/rig-fact', 'set', 'note', value]);
      expect(JSON.parse((await rig(['facts', 'mill', '--name', name, '--json'])).stdout).note).toBe(value);
      expect(await docker(['exec', `rig-${name}.barn`, '/.rig/bin/rig-fact', 'get', 'mill', 'note'])).toBe(value); // execa drops the last newline
    }
    const missing = await rig(['facts', 'mill', 'nosuchfact', '--name', name]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain('has no fact nosuchfact');
  });

  it('links each made-up name to its live node config with a relative symlink', () => {
    const link = join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('straleb.prod.example.yaml');
    expect(readlinkSync(join(fixture.dir, 'hieradata/nodes/mill.village.test.yaml'))).toBe('kelda.prod.example.yaml');
  });

  it('takes up of the same rig file again as nothing to do, and one whose network changed as a plan it will not half-apply', async () => {
    const ids = async () => (await docker(['ps', '-q', '--no-trunc', '--filter', `label=io.rig.rig=${name}`])).split('\n').sort();
    const before = await ids();
    const again = await rig(['up', fixture.file], { cwd: fixture.dir });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stderr).toContain(`rig ${name} is up and matches ${fixture.file}: nothing to do`);
    expect(await ids()).toEqual(before); // untouched

    // The same rig file, edited (and put back after): a change of the rig itself is refused, saying what changed.
    const original = readFileSync(fixture.file, 'utf8');
    writeFileSync(
      fixture.file,
      original
        .replace('  mill: kelda.prod.example\n', '  mill: kelda.prod.example\n  silo.village.test:\n')
        .replace('role: app', 'role: web')
        .replace('  internal: true\n', '  internal: true\n  forward: [ntp.prod.example]\n'),
    );
    const changed = await rig(['up', fixture.file], { cwd: fixture.dir });
    writeFileSync(fixture.file, original); // the user's files stay as they were
    expect(changed.exitCode).toBe(2);
    expect(changed.stderr).toContain(`Rig ${name} is up, and ${fixture.file} differs from it:`);
    expect(changed.stderr).toContain('+ silo.village.test (new)');
    expect(changed.stderr).toContain('~ well.village.test (settings changed)');
    expect(changed.stderr).toContain('= 2 nodes unchanged');
    expect(changed.stderr).toContain('~ the rig: network.forward + ntp.prod.example');
    expect(changed.stderr).toContain('--recreate');
    expect(await ids()).toEqual(before);

    // Another rig file under the same name: that rig is not this file's to change or recreate.
    const other = join(fixture.dir, 'other.yaml');
    writeFileSync(other, original);
    const refused = await rig(['up', other, '--name', name, '--recreate'], { cwd: fixture.dir });
    rmSync(other);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(fixture.file);
    expect(await ids()).toEqual(before);
  });

  it('runs commands in nodes and shows their logs', async () => {
    const exec = await rig(['exec', 'barn', '--name', name, '--', 'cat', '/etc/hostname']);
    expect(exec.stdout.trim()).toBe('barn');
    const failing = await rig(['exec', 'barn', '--name', name, '--', 'sh', '-c', 'exit 7']);
    expect(failing.exitCode).toBe(7);
    const logs = await rig(['logs', 'mill', '--name', name]);
    expect(logs.stdout).toContain(`ready: mill.village.test at ${nodes[1].ip}`);
  });

  it("takes the whole rig down, leaving the user's files byte for byte as they were", async () => {
    const hostInterfaces = (await execa('ip', ['-o', 'link', 'show'])).stdout.split('\n').filter((l) => / rv[0-9a-f]{12}@/.test(l)).length;
    expect(hostInterfaces).toBeGreaterThanOrEqual(3);
    const down = await rig(['down', fixture.file], { cwd: fixture.dir });
    expect(down.exitCode, down.all).toBe(0);
    expect(await leftovers(name)).toEqual([]);
    expect(
      await eventually(
        async () =>
          (
            await vethsLeft(
              name,
              nodes.map((n) => n.fqdn),
            )
          ).length === 0,
        5000,
      ),
    ).toBe(true);
    expect(snapshot(fixture.dir)).toEqual(before);
    expect(existsSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe(false);
    const status = await rig(['status', '--name', name, '--json']);
    expect(status.exitCode).toBe(2); // no rig of that name is up any more
    expect(status.stderr).toContain(`No rig named ${name} is up`);
  });
});
