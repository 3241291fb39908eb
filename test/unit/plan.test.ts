import { describe, expect, it } from 'vitest';
import { mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRigFile } from '../../src/rigfile/load.js';
import { planRig, rigAddresses } from '../../src/plan/plan.js';
import { nodeWiring, sidecarWiring } from '../../src/runtime/veth.js';
import { pickSubnet, overlaps, parseCidr } from '../../src/ipv4.js';
import { parseDuration } from '../../src/duration.js';
import { checkLinks, linkKey, makeLinks, removeLinks } from '../../src/engine/links.js';

const spec = (text: string) => parseRigFile(text, '/work/rigs/test.yaml');

describe('planRig', () => {
  const plan = planRig(
    spec(`
name: village
configs:
  - dir: control/hieradata/nodes
  - dir: ansible/host_vars
    file: "{node}/main.yml"
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test: kelda.prod.example
  well.village.test:
`),
  );

  it('names containers and the network after the rig', () => {
    expect(plan.network).toBe('rig-village');
    expect(plan.sidecar.container).toBe('rig-village.sidecar');
    expect(plan.nodes.map((n) => n.container)).toEqual(['rig-village.barn', 'rig-village.mill', 'rig-village.well']);
    // The sidecar's veth is named like a node's, and differs from every node's.
    const veth = (n: { spec: { name: string } }) => nodeWiring(plan.name, n.spec.name).hostInterface;
    expect(sidecarWiring(plan.name).hostInterface).toMatch(/^rv[0-9a-f]{12}$/);
    expect(plan.nodes.map(veth)).not.toContain(sidecarWiring(plan.name).hostInterface);
    expect(sidecarWiring(plan.name).mac).toBe(plan.sidecar.mac);
  });

  it('plans one relative link per node that mirrors, per config tree', () => {
    expect(plan.links).toHaveLength(4);
    expect(plan.links[0]).toEqual({
      node: 'barn.village.test',
      mirrors: 'straleb.prod.example',
      path: '/work/rigs/control/hieradata/nodes/barn.village.test.yaml',
      live: '/work/rigs/control/hieradata/nodes/straleb.prod.example.yaml',
      target: 'straleb.prod.example.yaml',
    });
    // A per-node directory ({node}/main.yml, as Ansible's host_vars/<host>/) is linked whole.
    expect(plan.links[3].path).toBe('/work/rigs/ansible/host_vars/mill.village.test');
    expect(plan.links[3].target).toBe('kelda.prod.example');
    expect(plan.links[3].live).toBe('/work/rigs/ansible/host_vars/kelda.prod.example/main.yml');
  });

  it('gives each node a stable, locally administered MAC and a short unique host interface', () => {
    const again = planRig(plan.spec);
    expect(again.nodes.map((n) => n.mac)).toEqual(plan.nodes.map((n) => n.mac));
    for (const node of plan.nodes) {
      expect(node.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
      expect(nodeWiring(plan.name, node.spec.name).hostInterface.length).toBeLessThanOrEqual(15);
      expect(nodeWiring(plan.name, node.spec.name).mac).toBe(node.mac);
    }
    expect(new Set(plan.nodes.map((n) => nodeWiring(plan.name, n.spec.name).hostInterface)).size).toBe(3);
    const other = planRig({ ...plan.spec, name: 'other' });
    expect(other.nodes[0].mac).not.toBe(plan.nodes[0].mac);
  });
});

describe('addresses', () => {
  it("keeps Docker's range (sidecars) apart from the DHCP pool", () => {
    expect(rigAddresses('10.213.4.0/24')).toEqual({
      subnet: '10.213.4.0/24',
      gateway: '10.213.4.1',
      dnsmasq: '10.213.4.2',
      etcd: '10.213.4.3',
      dockerRange: '10.213.4.0/28',
      dhcpFirst: '10.213.4.16',
      dhcpLast: '10.213.4.254',
      netmask: '255.255.255.0',
    });
    expect(() => rigAddresses('10.213.4.0/27')).toThrow(/too small/);
  });

  it('picks the first /24 of the pool that overlaps nothing in use', () => {
    expect(pickSubnet('10.213.0.0/16', [])).toBe('10.213.0.0/24');
    expect(pickSubnet('10.213.0.0/16', ['10.213.0.0/24', '10.213.1.0/24', '172.17.0.0/16'])).toBe('10.213.2.0/24');
    expect(pickSubnet('10.213.0.0/16', ['10.213.0.0/23', '10.0.0.0/8'])).toBeUndefined();
    expect(pickSubnet('10.213.0.0/23', ['10.213.0.128/25'])).toBe('10.213.1.0/24');
    expect(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.213.7.0/24'))).toBe(true);
    expect(overlaps(parseCidr('10.213.6.0/24'), parseCidr('10.213.7.0/24'))).toBe(false);
  });
});

describe('parseDuration', () => {
  it('reads seconds and minutes', () => {
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
  });

  it('refuses what is no wait rig can keep, as bad input naming the option', () => {
    for (const bad of ['abc', '', '0', '0s', '5x', '-1', '1h', '99999999m']) {
      expect(() => parseDuration(bad)).toThrow(/--timeout/);
      expect(() => parseDuration(bad)).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });
});

describe('links', () => {
  it('makes links, and removes only those still pointing where rig made them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rig-links-'));
    try {
      writeFileSync(join(dir, 'live-a.yaml'), 'a');
      writeFileSync(join(dir, 'live-b.yaml'), 'b');
      const links = [
        { node: 'a', mirrors: 'live-a', path: join(dir, 'a.yaml'), live: join(dir, 'live-a.yaml'), target: 'live-a.yaml' },
        { node: 'b', mirrors: 'live-b', path: join(dir, 'b.yaml'), live: join(dir, 'live-b.yaml'), target: 'live-b.yaml' },
      ];
      expect(checkLinks(links, 'test.yaml', new Set())).toEqual({ toMake: links, shared: [] });
      expect(makeLinks(links)).toHaveLength(2);
      expect(readlinkSync(join(dir, 'a.yaml'))).toBe('live-a.yaml');
      // The user repoints b: rig must leave it.
      rmSync(join(dir, 'b.yaml'));
      symlinkSync('live-a.yaml', join(dir, 'b.yaml'));
      expect(removeLinks(links, new Set())).toEqual([join(dir, 'a.yaml')]);
      expect(readlinkSync(join(dir, 'b.yaml'))).toBe('live-a.yaml');
      expect(readFileSync(join(dir, 'live-a.yaml'), 'utf8')).toBe('a');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shares a link another rig made and lists, leaves one nobody lists to the user, and removes a shared one last', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rig-links-'));
    try {
      writeFileSync(join(dir, 'live.yaml'), 'x');
      const link = (name: string) => ({
        node: name,
        mirrors: 'live',
        path: join(dir, `${name}.yaml`),
        live: join(dir, 'live.yaml'),
        target: 'live.yaml',
      });
      symlinkSync('live.yaml', join(dir, 'rigs.yaml'));
      symlinkSync('live.yaml', join(dir, 'users.yaml'));
      const other = new Set([linkKey({ path: join(dir, 'rigs.yaml'), target: 'live.yaml' })]);
      expect(checkLinks([link('rigs'), link('users')], 'r.yaml', other)).toEqual({ toMake: [], shared: [link('rigs')] });
      // While the other rig is up its link stays; once it is gone, the last rig to list it removes it.
      expect(removeLinks([link('rigs')], other)).toEqual([]);
      expect(removeLinks([link('rigs')], new Set())).toEqual([join(dir, 'rigs.yaml')]);
      expect(readlinkSync(join(dir, 'users.yaml'))).toBe('live.yaml');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a regular file or a foreign symlink at a link path, and a missing live file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rig-links-'));
    try {
      mkdirSync(join(dir, 'n'));
      writeFileSync(join(dir, 'n', 'live.yaml'), 'x');
      writeFileSync(join(dir, 'n', 'mine.yaml'), 'mine');
      symlinkSync('elsewhere.yaml', join(dir, 'n', 'theirs.yaml'));
      const link = (name: string, live = 'live.yaml') => ({
        node: name,
        mirrors: 'live',
        path: join(dir, 'n', `${name}.yaml`),
        live: join(dir, 'n', live),
        target: live,
      });
      expect(() => checkLinks([link('mine')], 'r.yaml', new Set())).toThrow(/mine\.yaml already exists/);
      expect(() => checkLinks([link('theirs')], 'r.yaml', new Set())).toThrow(
        /theirs\.yaml already exists \(a symlink to elsewhere\.yaml\)/,
      );
      expect(() => checkLinks([link('new', 'nope.yaml'), link('new2', 'gone.yaml')], 'r.yaml', new Set())).toThrow(
        /2 live node configs are missing[\s\S]*nope\.yaml[\s\S]*gone\.yaml/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
