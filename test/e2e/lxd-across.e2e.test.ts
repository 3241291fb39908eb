import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureDir, uniqueName } from './helpers.js';
import { CACHE, useTestCluster } from './lxd-test-cluster.js';
import { network } from '../../src/runtime/lxd/networks.js';
import { lxdNetworkName } from '../../src/plan/plan.js';

// A rig of LXD nodes only across the members of an LXD cluster, through the real CLI: the rig file names the cluster
// as a remote of the lxc client (lxd: { remote: clu }); its bridge spans the members (VXLAN), its sidecar is an
// instance on one of them, its nodes are placed over all three, and each gets its lease and name from the sidecar.
// The cluster: lxd-test-cluster.ts.
const NODES = ['n1', 'n2', 'n3', 'n4'];

interface Status {
  subnet: string;
  sidecar: string;
  nodes: Array<{ fqdn: string; ip: string; stage: string; backend: string; member?: string }>;
}

describe('a rig of LXD nodes only across the members of a three-member cluster', () => {
  const name = uniqueName('lxdacr');
  let status: Status;
  let up: { exitCode?: number; all?: string };
  const fixture = fixtureDir(
    [
      `name: ${name}`,
      'domain: lab.test',
      'backend: lxd',
      'lxd: { remote: clu }',
      'network: { internal: true }',
      'nodes:',
      ...NODES.map((n) => `  ${n}.lab.test: {}`),
      '',
    ].join('\n'),
  );
  const cluster = useTestCluster('racr', name, fixture.dir);
  const { fromMember, rigInstances } = cluster;
  const inNode = (node: string, sh: string) =>
    fromMember(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=$PATH:/.rig/bin; ${sh}`]);

  beforeAll(async () => {
    up = await fromMember(['up', fixture.file]);
    if (up.exitCode !== 0) return; // the first test says why
    const listed = await fromMember(['status', '--name', name, '--json']);
    expect(listed.exitCode, listed.all).toBe(0);
    [status] = JSON.parse(listed.stdout) as [Status];
  }, 600_000);
  afterAll(() => fixture.cleanup());

  it('comes up with its nodes ready on all three members, each leased an address of its subnet', () => {
    expect(up.exitCode, up.all).toBe(0);
    expect(status.sidecar).toBe('running');
    expect(status.nodes.map((n) => [n.fqdn, n.backend, n.stage])).toEqual(NODES.map((n) => [`${n}.lab.test`, 'lxd', 'ready']));
    expect(new Set(status.nodes.map((n) => n.member))).toEqual(new Set(['m1', 'm2', 'm3']));
    const prefix = status.subnet.split('.').slice(0, 3).join('.');
    for (const n of status.nodes) expect(n.ip.startsWith(`${prefix}.`), n.ip).toBe(true);
  });

  it("has one bridge across the members (VXLAN, the rig's own id), the sidecar and nodes on it where LXD says", async () => {
    const net = await network(cluster.client(), lxdNetworkName(name));
    expect(net?.status).toBe('Created');
    expect(net?.config).toMatchObject({ 'ipv4.address': 'none', 'ipv4.dhcp': 'false', 'tunnel.v.protocol': 'vxlan', 'user.rig.rig': name });
    expect(Number(net?.config['tunnel.v.id'])).toBeGreaterThan(0);
    const instances = await rigInstances();
    const sidecar = instances.find((i) => i.config?.['user.rig.role'] === 'sidecar');
    expect(sidecar?.status).toBe('Running');
    const where = Object.fromEntries(instances.map((i) => [i.config?.['user.rig.node'], i.location]));
    for (const n of status.nodes) expect(where[n.fqdn], n.fqdn).toBe(n.member);
    // the sidecar's leases (its state on this host's tmpfs, a disk of the sidecar) name every node at its address
    const leases = readFileSync(join(sidecar!.config!['user.rig.state'], 'misc', 'dnsmasq.leases'), 'utf8');
    for (const n of status.nodes) expect(leases).toMatch(new RegExp(`\\s${n.ip.replaceAll('.', '\\.')} ${n.fqdn.split('.')[0]}\\s`));
  });

  it('names resolve and nodes on different members reach each other by name; facts are published', async () => {
    const byMember = new Map(status.nodes.map((n) => [n.member, n]));
    const [first, ...others] = [...byMember.values()];
    for (const other of others) {
      const short = other.fqdn.split('.')[0];
      const reached = await inNode(first.fqdn.split('.')[0], `getent hosts ${other.fqdn} && ping -c 1 -W 3 ${short}.lab.test`);
      expect(reached.exitCode, `${first.member} -> ${other.member}: ${reached.all}`).toBe(0);
      expect(reached.stdout).toContain(`${other.ip} `);
    }
    for (const n of status.nodes) {
      const fact = await fromMember(['facts', n.fqdn.split('.')[0], 'ipaddress', '--name', name]);
      expect(fact.stdout.trim(), fact.all).toBe(n.ip);
    }
  });

  it('rig down leaves nothing of the rig on any member, nor its state on this host', async () => {
    const sidecar = (await rigInstances()).find((i) => i.config?.['user.rig.role'] === 'sidecar');
    const state = sidecar?.config?.['user.rig.state'];
    const down = await fromMember(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect(await rigInstances()).toEqual([]);
    expect(await network(cluster.client(), lxdNetworkName(name))).toBeUndefined();
    expect(state && existsSync(state)).toBe(false);
    expect(existsSync(join(CACHE, 'lxd-places', `${name}.json`))).toBe(false);
    // every rig on this host: another test's rig may be mid-way (status exits 1 for it), so only the list counts
    const all = await fromMember(['status', '--json']);
    expect((JSON.parse(all.stdout) as Array<{ name: string }>).map((r) => r.name)).not.toContain(name);
  });
});
