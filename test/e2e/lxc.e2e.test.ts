import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { docker, eventually, expectAgreedAddress, fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

// Where rig keeps its LXC nodes (LXC's default for root), so plain lxc-ls sees them too.
const LXC_PATH = '/var/lib/lxc';

interface StatusNode {
  fqdn: string;
  ip: string;
  stage: string;
  backend: string;
}

/** Run a command in an LXC container with LXC's own tool, not through rig. */
async function attach(container: string, command: string[]): Promise<string> {
  return (await execa('lxc-attach', ['-P', LXC_PATH, '-n', container, '--clear-env', '--', ...command])).stdout;
}

async function lxcContainers(): Promise<string[]> {
  return (await execa('lxc-ls', ['-P', LXC_PATH, '-1'])).stdout.split('\n').filter(Boolean);
}

/** The host end of an LXC node's veth, from the config rig wrote. */
const vethOf = (container: string) =>
  /^lxc\.net\.0\.veth\.pair = (\S+)$/m.exec(readFileSync(join(LXC_PATH, container, 'config'), 'utf8'))![1];

async function hostInterfaces(): Promise<string> {
  return (await execa('ip', ['-o', 'link', 'show'])).stdout;
}

async function statusOf(name: string): Promise<StatusNode[]> {
  const status = await rig(['status', '--name', name, '--json']);
  expect(status.exitCode, status.all).toBe(0);
  return JSON.parse(status.stdout)[0].nodes;
}

describe('a rig of three LXC nodes', () => {
  const name = uniqueName('lxc');
  const fixture = fixtureDir(`
name: ${name}
domain: village.test
backend: lxc
network:
  internal: true
configs:
  - dir: hieradata/nodes
facts:
  environment: e2e
  ports: [80, 443]
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test: kelda.prod.example
  well.village.test:
    mirrors: hobb.prod.example
    facts:
      role: app
`);
  const container = (short: string) => `rig-${name}.${short}`;
  let nodes: StatusNode[] = [];

  beforeAll(async () => {
    const up = await rig(['up', fixture.file], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    nodes = await statusOf(name);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
  });

  it('brings every node to ready as an LXC container', async () => {
    expect(nodes.map((n) => [n.fqdn, n.backend, n.stage])).toEqual([
      ['barn.village.test', 'lxc', 'ready'],
      ['mill.village.test', 'lxc', 'ready'],
      ['well.village.test', 'lxc', 'ready'],
    ]);
    expect(await lxcContainers()).toEqual(expect.arrayContaining(['barn', 'mill', 'well'].map(container)));
  });

  it('gives each node one address on eth0, equal to its lease, its status and its ipaddress fact', async () => {
    const leases = await docker(['exec', `rig-${name}.sidecar`, 'cat', '/var/lib/misc/dnsmasq.leases']);
    for (const node of nodes) {
      const ip = await attach(container(node.fqdn.split('.')[0]), ['/.rig/bin/ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      await expectAgreedAddress(name, node, ip, leases);
    }
  });

  it('lets every node resolve every other by FQDN and short name', async () => {
    for (const from of nodes) {
      for (const to of nodes) {
        for (const query of [to.fqdn, to.fqdn.split('.')[0]]) {
          const out = await attach(container(from.fqdn.split('.')[0]), ['getent', 'hosts', query]);
          expect(out, `${from.fqdn} resolving ${query}`).toMatch(new RegExp(`^${to.ip.replaceAll('.', '\\.')}\\s+${to.fqdn}$`));
        }
      }
    }
  });

  it('has every node publish its own facts to etcd from inside, custom facts included', async () => {
    const facts = await rig(['facts', 'well', '--name', name, '--json']);
    expect(facts.exitCode, facts.all).toBe(0);
    expect(JSON.parse(facts.stdout)).toMatchObject({
      hostname: 'well',
      fqdn: 'well.village.test',
      ipaddress: nodes[2].ip,
      os: 'debian',
      rig: name,
      mirrors: 'hobb.prod.example',
      environment: 'e2e',
      ports: '[80,443]',
      role: 'app',
    });
  });

  it('runs commands in nodes and shows their logs', async () => {
    const hostname = await rig(['exec', 'barn', '--name', name, '--', 'cat', '/etc/hostname']);
    expect(hostname.exitCode, hostname.all).toBe(0);
    expect(hostname.stdout.trim()).toBe('barn');
    const failing = await rig(['exec', 'barn', '--name', name, '--', 'sh', '-c', 'exit 7']);
    expect(failing.exitCode).toBe(7);
    const fact = await rig(['exec', 'barn', '--name', name, '--', '/.rig/bin/rig-fact', 'get', 'mill', 'ipaddress']);
    expect(fact.stdout).toBe(nodes[1].ip);
    const logs = await rig(['logs', 'mill', '--name', name]);
    expect(logs.stdout).toContain(`ready: mill.village.test at ${nodes[1].ip}`);
  });

  it('takes the rig down: no LXC container, veth, symlink, container or network is left', async () => {
    const veths = ['barn', 'mill', 'well'].map((short) => vethOf(container(short)));
    const before = await hostInterfaces();
    for (const veth of veths) expect(before).toContain(`${veth}@`);
    expect(lstatSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml')).isSymbolicLink()).toBe(true);

    const down = await rig(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect(down.stdout).toContain('removed 4 containers'); // three nodes and the sidecar
    expect((await lxcContainers()).filter((c) => c.startsWith(`rig-${name}.`))).toEqual([]);
    for (const short of ['barn', 'mill', 'well']) expect(existsSync(join(LXC_PATH, container(short)))).toBe(false);
    const after = await hostInterfaces();
    for (const veth of veths) expect(after).not.toContain(`${veth}@`);
    for (const node of ['barn', 'mill', 'well'])
      expect(existsSync(join(fixture.dir, `hieradata/nodes/${node}.village.test.yaml`))).toBe(false);
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('a rig of one Docker node and one LXC node', () => {
  const name = uniqueName('mixed');
  const fixture = fixtureDir(`
name: ${name}
domain: village.test
network:
  internal: true
nodes:
  dock.village.test:
    backend: docker
  lex.village.test:
    backend: lxc
`);
  let nodes: StatusNode[] = [];
  const address = (node: string) => nodes.find((n) => n.fqdn.startsWith(`${node}.`))!.ip;

  beforeAll(async () => {
    const up = await rig(['up', fixture.file], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    nodes = await statusOf(name);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
  });

  it('brings up each node on its own backend, on the one rig bridge', () => {
    expect(nodes.map((n) => [n.fqdn, n.backend, n.stage])).toEqual([
      ['dock.village.test', 'docker', 'ready'],
      ['lex.village.test', 'lxc', 'ready'],
    ]);
  });

  it('lets each node resolve the other by FQDN', async () => {
    expect(await docker(['exec', `rig-${name}.dock`, 'getent', 'hosts', 'lex.village.test'])).toMatch(new RegExp(`^${address('lex')}\\s`));
    expect(await attach(`rig-${name}.lex`, ['getent', 'hosts', 'dock.village.test'])).toMatch(new RegExp(`^${address('dock')}\\s`));
  });

  it('carries a TCP connection between them over the rig bridge, both ways', async () => {
    const listener = execa(
      'lxc-attach',
      [
        '-P',
        LXC_PATH,
        '-n',
        `rig-${name}.lex`,
        '--clear-env',
        '--',
        '/.rig/bin/sh',
        '-c',
        // Its stdin stays open a moment after the reply: busybox nc stops reading the socket at its stdin's end.
        '(echo pong from lex; sleep 2) | /.rig/bin/timeout 30 /.rig/bin/nc -l -p 7777',
      ],
      { reject: false },
    );
    try {
      const listening = await eventually(
        async () => (await attach(`rig-${name}.lex`, ['/.rig/bin/netstat', '-ltn'])).includes(':7777 '),
        10_000,
      );
      expect(listening).toBe(true);
      const client = await docker([
        'exec',
        `rig-${name}.dock`,
        '/.rig/bin/sh',
        '-c',
        '(echo ping from dock; sleep 1) | /.rig/bin/nc -w 5 lex.village.test 7777',
      ]);
      expect(client.trim()).toBe('pong from lex');
      const server = await listener;
      expect(server.stdout.trim()).toBe('ping from dock');
    } finally {
      listener.kill();
    }
  });

  it("lets each node read the other's facts from etcd", async () => {
    const fromDock = await rig(['exec', 'dock', '--name', name, '--', '/.rig/bin/rig-fact', 'get', 'lex', 'ipaddress']);
    expect(fromDock.exitCode, fromDock.all).toBe(0);
    expect(fromDock.stdout).toBe(address('lex'));
    const fromLex = await rig(['exec', 'lex', '--name', name, '--', '/.rig/bin/rig-fact', 'get', 'dock.village.test', 'ipaddress']);
    expect(fromLex.exitCode, fromLex.all).toBe(0);
    expect(fromLex.stdout).toBe(address('dock'));
  });

  it('takes both down', async () => {
    const down = await rig(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect((await lxcContainers()).filter((c) => c.startsWith(`rig-${name}.`))).toEqual([]);
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('LXC nodes on a host without the LXC tools', () => {
  const name = uniqueName('nolxc');
  const fixture = fixtureDir(`
name: ${name}
domain: village.test
backend: lxc
network:
  internal: true
nodes:
  barn.village.test:
`);
  // A PATH with node on it and nothing else: no lxc-start.
  const bin = mkdtempSync(join(tmpdir(), 'rig-nolxc-'));
  symlinkSync(process.execPath, join(bin, 'node'));

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  it('says so in one sentence with the fix, and makes nothing', async () => {
    const up = await rig(['up', fixture.file], { cwd: fixture.dir, env: { PATH: bin } });
    expect(up.exitCode, up.all).toBe(3);
    expect(up.stderr).toContain('rig: LXC is not installed');
    expect(up.stderr).toContain('apt-get install lxc');
    expect(await leftovers(name)).toEqual([]);
  });
});
