import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import {
  eventually,
  expectFollowed,
  fixtureDir,
  killSpawned,
  leftovers,
  printed,
  rig,
  spawnRig,
  uniqueName,
  vethsLeft,
  ended,
} from './helpers.js';
import { lxdImages, lxdInstances, rigInstances, useLxdHost } from './lxd-host.js';
import { instanceName } from '../../src/runtime/lxd/node-config.js';

// rig's commands on `backend: lxd` nodes (the host's own LXD daemon), through the real CLI: an ansible step and
// Ansible over `rig inventory`, logs, rig images (and prune), a reconcile, the reaper after SIGKILL, Ctrl-C, a
// failed node and an instance name taken.
useLxdHost();
afterEach(killSpawned);

const example = resolve(import.meta.dirname, '../../rigs/orchard');

/** A rig of two LXD nodes: grove (systemd) converged by the orchard example's playbook, and a plain one. */
const orchardRig = (name: string, colour: string) => `
name: ${name}
domain: orchard.test
network: { internal: true }
configs:
  - dir: ansible/host_vars
    file: "{node}.yml"
nodes:
  grove.orchard.test:
    mirrors: apple.prod.example
    roles: [web]
    backend: lxd
    init: systemd
    provision:
      - ansible: { playbook: ansible/site.yml }
    validate:
      - systemctl is-active webpage
      - python3 -c 'import urllib.request as u; print(u.urlopen("http://localhost:8080/").read().decode())' | grep -q "$(hostname)"
  plain.orchard.test:
    backend: lxd
    facts: { colour: ${colour} }
    validate: ['test "$(rig-fact get plain colour)" = ${colour}']
`;

describe('two LXD nodes, one with systemd converged by an ansible step (the orchard playbook)', () => {
  const name = uniqueName('lxdcmd');
  const dir = mkdtempSync(join(tmpdir(), 'rig-e2e-lxdcmd-'));
  const logs = (...args: string[]) => rig(['logs', '--name', name, ...args]);

  beforeAll(async () => {
    cpSync(join(example, 'ansible'), join(dir, 'ansible'), { recursive: true });
    // the example's playbook, and a play that says which connection reached the node
    const says =
      '- hosts: web\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: { msg: "connection {{ ansible_connection }}" }\n';
    appendFileSync(join(dir, 'ansible/site.yml'), says);
    writeFileSync(join(dir, 'rig.yaml'), orchardRig(name, 'red'));
    const up = await rig(['up', 'rig.yaml'], { cwd: dir });
    expect(up.exitCode, up.all).toBe(0);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    rmSync(dir, { recursive: true, force: true });
    expect(await leftovers(name)).toEqual([]);
    expect(await rigInstances(name)).toEqual([]);
  });

  it("converges the systemd node from the host with its live node's host_vars; the run is in its log", async () => {
    const test = await rig(['test', '--name', name]);
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toContain('3 passed, 0 failed');
    const log = await logs('grove');
    expect(log.stdout).toMatch(/^TASK \[webpage : the service runs\]/m);
    expect(log.stdout).toContain('"msg": "connection community.docker.nsenter"'); // by its init's PID, not lxc exec
    expect(log.stdout).toMatch(/^grove\.orchard\.test +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0/m);
    const page = await rig([
      'exec',
      'grove',
      '--name',
      name,
      '--',
      'python3',
      '-c',
      'import urllib.request as u; print(u.urlopen("http://localhost:8080/").read().decode())',
    ]);
    expect(page.stdout).toContain('apples, fresh at grove.orchard.test; peer pear.prod.example');
    const init = await rig(['exec', 'grove', '--name', name, '--', 'cat', '/proc/1/comm']);
    expect(init.stdout.trim()).toBe('systemd');
  });

  it('--idempotent: a second run of the playbook changes nothing', async () => {
    const twice = await rig(['provision', '--idempotent', 'grove', '--name', name]);
    expect(twice.exitCode, twice.all).toBe(0);
    expect(twice.stdout).toMatch(/^grove\.orchard\.test +provisioned in .* s, second run changed nothing, validate 2\/2 passed$/m);
  });

  it("rig inventory lists both with LXD's connection, and Ansible reaches them by it", async () => {
    const inventory = await rig(['inventory', '--name', name]);
    expect(inventory.exitCode, inventory.all).toBe(0);
    expect(inventory.stdout.match(/ansible_connection: community\.general\.lxd$/gm)).toHaveLength(2);
    const file = join(dir, 'inventory.yml');
    writeFileSync(file, inventory.stdout);
    // raw: plain runs rig:base, which has no Python for Ansible's modules
    const hostnames = await execa('ansible', ['-i', file, 'all', '-m', 'raw', '-a', 'hostname', '-o'], {
      reject: false,
      env: { ANSIBLE_NOCOLOR: '1' },
    });
    expect(hostnames.exitCode, hostnames.stdout + hostnames.stderr).toBe(0);
    expect(hostnames.stdout).toMatch(/^grove\.orchard\.test \| CHANGED \| rc=0 \| \(stdout\) grove(\\n)?$/m);
    expect(hostnames.stdout).toMatch(/^plain\.orchard\.test \| CHANGED \| rc=0 \| \(stdout\) plain(\\n)?$/m);
    const ping = await execa('ansible', ['-i', file, 'web', '-m', 'ping', '-o'], { reject: false, env: { ANSIBLE_NOCOLOR: '1' } });
    expect(ping.stdout).toMatch(/^grove\.orchard\.test \| SUCCESS => .*"ping": "pong"/m);
  });

  it('takes --tail N: the last N lines of its log', async () => {
    for (const node of ['grove', 'plain']) {
      const all = (await logs(node)).stdout.split('\n');
      const last = await logs(node, '--tail', '3');
      expect(last.exitCode, last.all).toBe(0);
      expect(last.stdout.split('\n'), node).toEqual(all.slice(-3));
    }
  });

  for (const node of ['grove', 'plain']) {
    it(`follows ${node}'s log with -f: a line written after the follow began arrives`, async () => {
      const [instance] = (await rigInstances(name)).filter((i) => i.config['user.rig.node'] === `${node}.orchard.test`);
      await expectFollowed(name, node, () =>
        execa('lxc', ['exec', instance.name, '--', 'sh', '-c', 'echo "a line that came later" > /dev/console']),
      );
    });
  }

  it("rig images lists rig's LXD images and the rigs using them; prune removes rig's unused ones, never a user's", async () => {
    // an older import of rig's base (rig's marks, no rig uses it) and an image of the user's own, both tiny
    const old = 'rig-base-000000000000';
    const users = `${name}-users-own`;
    const tmp = mkdtempSync(join(tmpdir(), 'rig-e2e-lxdimg-'));
    const importImage = async (alias: string, ...properties: string[]) => {
      writeFileSync(join(tmp, 'metadata.yaml'), `architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: ${alias}\n`);
      mkdirSync(join(tmp, 'root'), { recursive: true });
      await execa('tar', ['-C', tmp, '-cf', join(tmp, 'meta.tar'), 'metadata.yaml']);
      await execa('tar', ['-C', join(tmp, 'root'), '-cf', join(tmp, 'rootfs.tar'), '.']);
      await execa('lxc', ['image', 'import', join(tmp, 'meta.tar'), join(tmp, 'rootfs.tar'), '--alias', alias, ...properties]);
    };
    try {
      await importImage(old, 'user.rig.image=rig/base:000000000000');
      await importImage(users);
      const list = await rig(['images', '--json']);
      expect(list.exitCode, list.all).toBe(0);
      const rows = (
        JSON.parse(list.stdout) as Array<{ ref: string; store: string; image: string; current: boolean; usedBy: string[] }>
      ).filter((r) => r.store === 'lxd');
      const row = (ref: string) => rows.find((r) => r.ref === ref || (r.ref.startsWith(ref) && r.ref !== old));
      expect(row('rig-base-')).toMatchObject({ image: 'base', current: true, usedBy: expect.arrayContaining([name]) });
      expect(row('rig-systemd-')).toMatchObject({ image: 'systemd', current: true, usedBy: expect.arrayContaining([name]) });
      expect(row(old)).toMatchObject({ image: 'base', current: false, usedBy: [] });
      expect(rows.map((r) => r.ref)).not.toContain(users);
      const table = await rig(['images']);
      expect(table.stdout).toMatch(new RegExp(`^${old} +lxd `, 'm'));

      const dry = await rig(['images', 'prune', '--dry-run']);
      expect(dry.exitCode, dry.all).toBe(0);
      expect(dry.stdout).toContain(`would remove ${old} from lxd`);
      expect(dry.stdout).not.toContain(users);
      expect(dry.stdout).not.toContain(row('rig-base-')!.ref);
      const prune = await rig(['images', 'prune']);
      expect(prune.exitCode, prune.all).toBe(0);
      expect(prune.stdout).toContain(`removed ${old} from lxd`);
      const left = (await lxdImages()).flatMap((i) => i.aliases.map((a) => a.name));
      expect(left).not.toContain(old);
      expect(left).toEqual(expect.arrayContaining([users, row('rig-base-')!.ref, row('rig-systemd-')!.ref]));
    } finally {
      for (const alias of [old, users]) await execa('lxc', ['image', 'delete', alias], { reject: false });
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a reconcile with one LXD node changed remakes that node alone', async () => {
    const before = await rigInstances(name);
    writeFileSync(join(dir, 'rig.yaml'), orchardRig(name, 'blue'));
    const up = await rig(['up', 'rig.yaml'], { cwd: dir });
    expect(up.exitCode, up.all).toBe(0);
    const after = await rigInstances(name);
    const made = (list: typeof before, node: string) => list.find((i) => i.config['user.rig.node'] === node)!;
    expect(made(after, 'grove.orchard.test').created_at).toBe(made(before, 'grove.orchard.test').created_at);
    expect(made(after, 'plain.orchard.test').created_at).not.toBe(made(before, 'plain.orchard.test').created_at);
    // Every node is on LXD, so the rig's sidecar is an LXD instance too: kept by the reconcile, as grove is.
    expect(after.filter((i) => i.config['user.rig.role'] === 'node')).toHaveLength(2);
    const sidecar = (list: typeof before) => list.find((i) => i.config['user.rig.role'] === 'sidecar')!;
    expect(sidecar(after).created_at).toBe(sidecar(before).created_at);
    expect((await rig(['facts', 'plain', 'colour', '--name', name])).stdout.trim()).toBe('blue');
    const test = await rig(['test', '--name', name]);
    expect(test.exitCode, test.all).toBe(0);
  });
});

describe('rig up of a rig with an LXD node, interrupted', () => {
  const node = 'slow.lab.test';
  const rigFile = (name: string) => `
name: ${name}
domain: lab.test
network: { internal: true }
nodes:
  ${node}:
    backend: lxd
    provision:
      - shell: sleep 60
`;

  it('killed with SIGKILL: the reaper removes everything, the LXD instance too', async () => {
    const name = uniqueName('lxdkill');
    const fixture = fixtureDir(rigFile(name));
    try {
      const up = spawnRig(['up', 'rig.yaml'], fixture.dir);
      expect(await printed(up, /provisioning 1\/1/)).toBe(true);
      expect(await rigInstances(name)).toHaveLength(2); // the node and the sidecar: every node is on LXD
      up.child.kill('SIGKILL');
      await ended(up);
      const left = async () => [...(await leftovers(name)), ...(await rigInstances(name)).map((i) => `LXD instance ${i.name}`)];
      // a bound on a hang: an LXD node's removal (a stop, then its root's copy deleted) is slower than a container's
      const gone = await eventually(async () => (await left()).length === 0, 60_000, 500);
      expect(gone, `left: ${(await left()).join(', ')}`).toBe(true);
      expect(await vethsLeft(name, [node])).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });

  it('on Ctrl-C (SIGINT): removes the LXD node and the rest before it exits 130', async () => {
    const name = uniqueName('lxdint');
    const fixture = fixtureDir(rigFile(name));
    try {
      const up = spawnRig(['up', 'rig.yaml'], fixture.dir);
      expect(await printed(up, /provisioning 1\/1/)).toBe(true);
      up.child.kill('SIGINT');
      expect((await ended(up)).code).toBe(130);
      expect(await rigInstances(name)).toEqual([]);
      expect(await leftovers(name)).toEqual([]);
      expect(await vethsLeft(name, [node])).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });

  it("a failed LXD node: up exits 1 and shows the end of that node's log", async () => {
    const name = uniqueName('lxdfail');
    const fixture = fixtureDir(`
name: ${name}
domain: lab.test
network: { internal: true }
nodes:
  sad.lab.test:
    backend: lxd
    provision:
      - shell: echo "the step says no"; exit 3
`);
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(1);
      expect(up.stderr).toContain('its log ends:');
      expect(up.stderr).toContain('the step says no');
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
    expect(await rigInstances(name)).toEqual([]);
  });

  it('refuses, exit 2, an LXD node whose instance name is taken, and leaves that instance alone', async () => {
    const name = uniqueName('lxdtaken');
    const fixture = fixtureDir(rigFile(name));
    const taken = instanceName(name, node, 'slow');
    await execa('lxc', ['init', '--empty', taken], { stdin: 'ignore' }); // else it reads an instance config from stdin
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(2);
      expect(up.stderr).toContain(`slow.lab.test could not start (lxd ${taken}): An LXD instance named ${taken} already exists.`);
      expect(up.stderr).toContain(`lxc delete --force ${taken}`);
      expect((await lxdInstances()).map((i) => i.name)).toContain(taken);
      expect(await leftovers(name)).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      await execa('lxc', ['delete', '--force', taken], { reject: false });
      fixture.cleanup();
    }
  });
});
