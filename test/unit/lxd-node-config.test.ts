import { describe, expect, it } from 'vitest';
import { instanceName, nodeConfig, nodeMarks, nodeOf } from '../../src/runtime/lxd/node-config.js';
import { aliasOf } from '../../src/runtime/lxd/node-images.js';
import type { Instance } from '../../src/runtime/lxd/api.js';
import { planRig } from '../../src/plan/plan.js';
import { parseRigFile } from '../../src/rigfile/load.js';

const instance = (name: string, config: Record<string, string>, status = 'Running'): Instance => ({
  name,
  status,
  location: 'none',
  type: 'container',
  config,
  devices: {},
});

describe("an LXD node's instance (runtime/lxd/node-config.ts)", () => {
  it('is named with no dot (never an LXC node), at most 63 characters, apart for rigs and nodes whose names split alike', () => {
    const a = instanceName('a-b', 'c.lab.test', 'c');
    const b = instanceName('a', 'b-c.lab.test', 'b-c');
    expect(a).toMatch(/^rig-a-b-c-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    const long = instanceName('x'.repeat(24), `${'y'.repeat(63)}.lab.test`, 'y'.repeat(63));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z][a-z0-9-]*[a-z0-9]$/);
  });

  it("is the plan's container name of an LXD node (messages, --dry-run, logs), where other backends' stay rig-<rig>.<node>", () => {
    const plan = planRig(parseRigFile('domain: lab.test\nnodes:\n  box: { backend: lxd }\n  dock: {}\n', '/work/rigs/lab.yaml'));
    expect(plan.nodes.map((n) => n.container)).toEqual([instanceName('lab', 'box.lab.test', 'box'), 'rig-lab.dock']);
  });

  it('carries its marks as user.rig.* keys, read back as the node rig made', () => {
    const marks = nodeMarks({
      rig: 'lab',
      node: 'box.lab.test',
      mirrors: 'db1.prod.example',
      roles: ['app', 'db'],
      validate: ['test -f /x'],
      validateTimeout: 30,
      update: ['apt-get upgrade -y', { ansible: 'site.yml' }],
      settings: 'abc123',
      links: [{ path: '/repo/a.yaml', target: '/repo/b.yaml' }],
      systemd: false,
    });
    expect(marks).toMatchObject({ 'user.rig.rig': 'lab', 'user.rig.role': 'node', 'user.rig.backend': 'lxd', 'user.rig.roles': 'app,db' });
    expect(nodeOf(instance('n1', { ...marks, 'environment.X': '1' }))).toEqual({
      rig: 'lab',
      node: 'box.lab.test',
      backend: 'lxd',
      name: 'n1',
      running: true,
      paused: false,
      mirrors: 'db1.prod.example',
      roles: ['app', 'db'],
      validate: ['test -f /x'],
      validateTimeout: 30,
      update: ['apt-get upgrade -y', { ansible: 'site.yml' }],
      settings: 'abc123',
      links: [{ path: '/repo/a.yaml', target: '/repo/b.yaml' }],
    });
    expect(nodeOf(instance('n1', marks, 'Frozen'))).toMatchObject({ running: true, paused: true });
    expect(nodeOf(instance('n1', marks), 'other')).toBeUndefined();
  });

  it("is not rig's without its marks, or with another backend's or role's", () => {
    expect(nodeOf(instance('web', { 'environment.X': '1' }))).toBeUndefined();
    expect(
      nodeOf(instance('web', { 'user.rig.rig': 'lab', 'user.rig.node': 'a.lab', 'user.rig.role': 'sidecar', 'user.rig.backend': 'lxd' })),
    ).toBeUndefined();
    expect(
      nodeOf(instance('web', { 'user.rig.rig': 'lab', 'user.rig.node': 'a.lab', 'user.rig.role': 'node', 'user.rig.backend': 'lxc' })),
    ).toBeUndefined();
  });

  it("puts its NIC on the rig's bridge with its planned MAC and host interface, and the agent as init", () => {
    const { config, devices } = nodeConfig({
      hostname: 'box',
      bridge: 'br-1234',
      hostInterface: 'rv0123456789ab',
      mac: '02:00:00:00:00:01',
      toolsDir: '/cache/tools',
      repoDir: '/repo',
      repoMount: '/.rig-repo',
      env: { RIG_NODE: 'box.lab.test' },
      consoleLog: '/cache/lxd-console/n/console.log',
      systemd: false,
      privileged: true,
    });
    expect(devices.eth0).toEqual({
      type: 'nic',
      nictype: 'bridged',
      parent: 'br-1234',
      name: 'eth0',
      hwaddr: '02:00:00:00:00:01',
      host_name: 'rv0123456789ab',
    });
    expect(devices.repo).toEqual({ type: 'disk', source: '/repo', path: '/.rig-repo', readonly: 'true' });
    expect(config['raw.lxc']).toContain('lxc.init.cmd = /.rig/bin/sh /.rig/bin/rig-agent\n');
    expect(config['raw.lxc']).toContain('lxc.console.logfile = /cache/lxd-console/n/console.log\n');
    expect(config['environment.RIG_NODE']).toBe('box.lab.test');
  });

  it("imports rig's own images under their hash, others under their id", () => {
    expect(aliasOf('rig/base:74395a11b495')).toBe('rig-base-74395a11b495');
    expect(aliasOf('debian-with-tools', 'sha256:0123456789abcdef')).toBe('rig-image-0123456789ab');
  });
});
