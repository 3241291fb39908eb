import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ended, eventually, fixtureDir, killSpawned, printed, rig, spawnRig, uniqueName, vethsLeft } from './helpers.js';
import { lxdImages, rigInstances, useLxdHost } from './lxd-host.js';
import { sidecarWiring } from '../../src/runtime/veth.js';
import { createEngine } from '../../src/cli/engine.js';
import { runtimeContract } from '../contract/runtime.contract.js';

// A rig whose every node is on LXD (backend: lxd rig-wide): its L2 segment is an LXD managed bridge and its sidecar an
// LXD instance, so the CLI runs it with no Docker engine at all. Through the real CLI against this host's LXD daemon.
useLxdHost();
const CACHE = '/var/cache/rig';

interface Listed {
  name: string;
  config: Record<string, string>;
}

const lxcJson = async <T>(args: string[]) => JSON.parse((await execa('lxc', [...args, '--format', 'json'])).stdout) as T;
const networks = () => lxcJson<Array<Listed & { managed: boolean; used_by: string[] | null }>>(['network', 'list']);
const profiles = async () => (await lxcJson<Listed[]>(['profile', 'list'])).map((p) => p.name).sort();
const rigNetworks = async (rig: string) => (await networks()).filter((n) => n.config['user.rig.rig'] === rig);

/**
 * A stand-in for the Docker engine's socket that counts who connects and answers nothing: a rig on LXD must never
 * connect to it. (`up` gets a socket that is not there at all: the CLI must not need one.)
 */
function dockerTrap(): { host: string; connections: () => number; close: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rig-nodocker-'));
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    socket.destroy();
  }).listen(join(dir, 'docker.sock'));
  return {
    host: `unix://${join(dir, 'docker.sock')}`,
    connections: () => connections,
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const NO_DOCKER = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };

/** rig's images are in LXD's store (imported under their hashed aliases): a rig on LXD then needs Docker for nothing. */
async function importImages(): Promise<void> {
  const listed = await rig(['images', '--json']);
  expect(listed.exitCode, listed.all).toBe(0);
  const images = JSON.parse(listed.stdout) as Array<{ image: string; store: string; current: boolean }>;
  const inLxd = (image: string) => images.some((i) => i.image === image && i.store === 'lxd' && i.current);
  if (inLxd('sidecar') && inLxd('base')) return;
  // The first up of a rig on LXD imports them, with Docker (which builds them): one up and down does it.
  const name = uniqueName('lxdimp');
  const fixture = fixtureDir(`name: ${name}\ndomain: lab.test\nbackend: lxd\nnetwork: { internal: true }\nnodes:\n  one.lab.test: {}\n`);
  try {
    const up = await rig(['up', fixture.file], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
  } finally {
    await rig(['down', '--name', name]);
    fixture.cleanup();
  }
}

// The runtime's roles on LXD (its registry, network and sidecar) hold to the contract the engine relies on.
runtimeContract(
  'the LXD daemon (a rig of LXD nodes only)',
  uniqueName('lxdcontract'),
  async () => {
    await importImages();
    return {
      engine: await createEngine(),
      leftovers: async (rig) => [
        ...(await rigInstances(rig)).map((i) => `instance ${i.name}`),
        ...(await rigNetworks(rig)).map((n) => `network ${n.name}`),
      ],
    };
  },
  'lxd',
);

describe('a rig of LXD nodes only: an LXD bridge, the sidecar an LXD instance, and no Docker', () => {
  const name = uniqueName('lxdrt');
  const fixture = fixtureDir(`
name: ${name}
domain: lab.test
backend: lxd
network:
  internal: true
nodes:
  alpha.lab.test:
    needs: [beta]
    validate:
      - getent hosts beta.lab.test | grep -q "^$(rig-fact get beta ipaddress) "
  beta.lab.test: {}
`);
  const trap = dockerTrap();
  const inNode = (node: string, script: string) =>
    rig(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=$PATH:/.rig/bin; ${script}`], { env: { DOCKER_HOST: trap.host } });
  let profilesBefore: string[] = [];
  let imagesBefore: string[] = [];
  let status: { subnet: string; dns: string; sidecar: string; nodes: Array<{ fqdn: string; ip: string; stage: string; backend: string }> };
  let up: Awaited<ReturnType<typeof rig>>;

  beforeAll(async () => {
    await importImages();
    [profilesBefore, imagesBefore] = await Promise.all([profiles(), (async () => (await lxdImages()).map((i) => i.fingerprint))()]);
    up = await rig(['up', fixture.file], { cwd: fixture.dir, env: NO_DOCKER });
    const listed = await rig(['status', '--name', name, '--json'], { env: { DOCKER_HOST: trap.host } });
    expect(listed.exitCode, listed.all).toBe(0);
    [status] = JSON.parse(listed.stdout) as [typeof status];
  }, 240_000);

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    trap.close();
  });

  it('comes up with no Docker engine: its nodes ready, on LXD, at addresses of its subnet', () => {
    expect(up.exitCode, up.all).toBe(0);
    expect(status.sidecar).toBe('running');
    expect(status.nodes.map((n) => [n.fqdn, n.backend, n.stage])).toEqual([
      ['alpha.lab.test', 'lxd', 'ready'],
      ['beta.lab.test', 'lxd', 'ready'],
    ]);
    const prefix = status.subnet.split('.').slice(0, 3).join('.');
    for (const n of status.nodes) expect(n.ip.startsWith(`${prefix}.`), n.ip).toBe(true);
  });

  it("has an LXD-made bridge marked as the rig's, with no address, DHCP, DNS or firewall of LXD's", async () => {
    const [network] = await rigNetworks(name);
    expect(network.managed).toBe(true);
    expect(network.config).toMatchObject({
      'ipv4.address': 'none',
      'ipv4.dhcp': 'false',
      'dns.mode': 'none',
      'ipv4.firewall': 'false',
      'user.rig.subnet': status.subnet,
    });
    const users = (network.used_by ?? []).map((u) => u.split('/').pop()).sort();
    expect(users).toEqual((await rigInstances(name)).map((i) => i.name).sort());
    // LXD made no nftables rule of its own for it, and rig's rule lets frames between the bridge's ports through Docker's FORWARD policy
    // (LXD's own table, `inet lxd`, holds chains named after the networks it filters or NATs: none for this one)
    const lxdTable = await execa('nft', ['list', 'table', 'inet', 'lxd'], { reject: false });
    expect(lxdTable.stdout).not.toContain(network.name);
    const rules = (await execa('iptables', ['-S', 'DOCKER-USER'])).stdout.replaceAll('"', '');
    expect(rules).toContain(`-i ${network.name} -o ${network.name} -m comment --comment rig:${name} -j ACCEPT`);
  });

  it("serves every node its lease from the sidecar, an LXD instance of rig's sidecar image", async () => {
    const sidecar = (await rigInstances(name)).find((i) => i.config['user.rig.role'] === 'sidecar')!;
    expect(sidecar.status).toBe('Running');
    expect(sidecar.devices.eth0).toMatchObject({ host_name: sidecarWiring(name).hostInterface });
    const image = (await lxdImages()).find((i) => i.fingerprint === sidecar.config['volatile.base_image']);
    expect(image?.aliases.map((a) => a.name)[0]).toMatch(/^rig-sidecar-[0-9a-f]{12}$/);
    const leases = readFileSync(join(sidecar.config['user.rig.state'], 'misc', 'dnsmasq.leases'), 'utf8');
    for (const n of status.nodes) expect(leases).toMatch(new RegExp(`\\s${n.ip.replaceAll('.', '\\.')} ${n.fqdn.split('.')[0]}\\s`));
    const own = await inNode('alpha', 'ip -4 -o addr show dev eth0');
    expect(own.stdout).toContain(`inet ${status.nodes[0].ip}/`);
  });

  it('names resolve; facts, exec, provision, test and logs work, and none of them connects to Docker', async () => {
    const env = { DOCKER_HOST: trap.host };
    const resolved = await inNode('alpha', 'getent hosts beta.lab.test');
    expect(resolved.stdout).toContain(status.nodes[1].ip);
    const fact = await rig(['facts', 'beta', 'ipaddress', '--name', name], { env });
    expect(fact.stdout.trim(), fact.all).toBe(status.nodes[1].ip);
    const exec = await rig(['exec', 'alpha', '--name', name, '--', 'hostname'], { env });
    expect(exec.stdout.trim(), exec.all).toBe('alpha');
    const provision = await rig(['provision', '--name', name], { env });
    expect(provision.exitCode, provision.all).toBe(0);
    const test = await rig(['test', '--name', name], { env });
    expect(test.exitCode, test.all).toBe(0);
    expect(test.all).toContain('1 passed, 0 failed');
    const logs = await rig(['logs', 'alpha', '--name', name], { env });
    expect(logs.stdout).toContain(`ready: alpha.lab.test at ${status.nodes[0].ip}`);
    expect(trap.connections()).toBe(0);
  });

  it("gets a node nothing through with a spoofed MAC or address (rig's port guard on the LXD bridge)", async () => {
    const [alpha, beta] = status.nodes.map((n) => n.ip);
    const setMac = (mac: string) => `ip link set eth0 down && ip link set eth0 address ${mac} && ip link set eth0 up`;
    const own = (await inNode('alpha', 'cat /sys/class/net/eth0/address')).stdout.trim();
    const spoofedMac = await inNode('alpha', `${setMac('02:11:22:33:44:55')} && ping -c 2 -W 1 ${beta}`);
    expect(spoofedMac.exitCode, spoofedMac.all).not.toBe(0);
    expect((await inNode('alpha', `${setMac(own)} && ping -c 1 -W 2 ${beta}`)).exitCode).toBe(0);
    const other = alpha.replace(/\.\d+$/, '.200');
    const spoofedIp = await inNode(
      'alpha',
      `ip addr add ${other}/32 dev eth0 && ping -c 2 -W 1 -I ${other} ${beta}; s=$?; ip addr del ${other}/32 dev eth0; exit $s`,
    );
    expect(spoofedIp.exitCode, spoofedIp.all).not.toBe(0);
    expect((await inNode('alpha', `ping -c 1 -W 2 ${beta}`)).exitCode).toBe(0);
  });

  it('rig down removes its instances, network, rules and state, and leaves no profile or image made for it alone', async () => {
    const [network] = await rigNetworks(name);
    const state = (await rigInstances(name)).find((i) => i.config['user.rig.role'] === 'sidecar')!.config['user.rig.state'];
    const consoles = (await rigInstances(name)).map((i) => join(CACHE, 'lxd-console', i.name));
    const down = await rig(['down', '--name', name], { env: { DOCKER_HOST: trap.host } });
    expect(down.exitCode, `${down.all}\n${(await execa('lxc', ['list'])).stdout}`).toBe(0);
    expect(trap.connections()).toBe(0);
    expect(await rigInstances(name)).toEqual([]);
    expect(await rigNetworks(name)).toEqual([]);
    expect(await profiles()).toEqual(profilesBefore);
    // What is in LXD's store now and was not before: only rig's shared imports (hashed aliases, rig's mark)
    const added = (await lxdImages()).filter((i) => !imagesBefore.includes(i.fingerprint));
    for (const image of added) {
      expect(image.aliases[0]?.name).toMatch(/^rig-(base|sidecar|systemd|puppet)-[0-9a-f]{12}$/);
      expect(image.properties['user.rig.image']).toBeTruthy();
    }
    expect(existsSync(state)).toBe(false);
    expect(consoles.filter((c) => existsSync(c))).toEqual([]);
    expect(existsSync(`/sys/class/net/${network.name}`)).toBe(false);
    expect((await execa('iptables', ['-S', 'DOCKER-USER'])).stdout).not.toContain(`rig:${name}`);
    expect((await execa('nft', ['list', 'tables'])).stdout).not.toContain(`rig.${name}.`);
    expect(await vethsLeft(name, ['alpha.lab.test', 'beta.lab.test', '.sidecar'])).toEqual([]);
  });
});

describe('rig up of a rig of LXD nodes only, interrupted, with no Docker engine', () => {
  afterEach(killSpawned);
  const rigFile = (name: string) => `
name: ${name}
domain: lab.test
backend: lxd
network: { internal: true }
nodes:
  slow.lab.test:
    provision:
      - shell: sleep 60
`;

  /** `rig up` of the rig file in `dir` as a process of its own, with no Docker engine (for it alone). */
  const spawnUp = (dir: string) => {
    const host = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = NO_DOCKER.DOCKER_HOST;
    try {
      return spawnRig(['up', 'rig.yaml'], dir);
    } finally {
      if (host === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = host;
    }
  };

  const left = async (name: string) => [
    ...(await rigInstances(name)).map((i) => `instance ${i.name}`),
    ...(await rigNetworks(name)).map((n) => `network ${n.name}`),
    ...(await execa('iptables', ['-S', 'DOCKER-USER'])).stdout.split('\n').filter((r) => r.includes(`rig:${name}`)),
    ...(await vethsLeft(name, ['slow.lab.test', '.sidecar'])),
  ];

  it('killed with SIGKILL: the reaper removes the nodes, the sidecar and the LXD network', async () => {
    await importImages();
    const name = uniqueName('lxdrtkill');
    const fixture = fixtureDir(rigFile(name));
    try {
      const up = spawnUp(fixture.dir);
      expect(await printed(up, /provisioning 1\/1/)).toBe(true);
      expect((await rigInstances(name)).length).toBe(2); // the node and the sidecar
      up.child.kill('SIGKILL');
      await ended(up);
      // a bound on a hang: the reaper works in the background once up is gone
      const gone = await eventually(async () => (await left(name)).length === 0, 60_000, 500);
      expect(gone, `left: ${(await left(name)).join(', ')}`).toBe(true);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  }, 180_000);

  it('on Ctrl-C (SIGINT): removes the nodes, the sidecar and the LXD network before it exits 130', async () => {
    await importImages();
    const name = uniqueName('lxdrtint');
    const fixture = fixtureDir(rigFile(name));
    try {
      const up = spawnUp(fixture.dir);
      expect(await printed(up, /provisioning 1\/1/)).toBe(true);
      expect((await rigInstances(name)).length).toBe(2); // the node and the sidecar
      up.child.kill('SIGINT');
      expect((await ended(up)).code, up.output()).toBe(130);
      expect(await left(name)).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  }, 180_000);
});
