import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { rig, useRig } from './helpers.js';

describe('roles and inventories', () => {
  const { name, dir } = useRig(
    'inv',
    (name) =>
      `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n    mirrors: straleb.prod.example\n    roles: [db, primary]\n  mill.village.test:\n    backend: lxc\n    roles: [db]\n  well.village.test:\n    roles: [web]\n`,
  );
  let status: { nodes: Array<{ fqdn: string; ip: string }> } | undefined;
  const ip = async (short: string) => {
    status ??= JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
    return status!.nodes.find((n) => n.fqdn.startsWith(`${short}.`))!.ip;
  };

  it("publishes each node's roles as a fact", async () => {
    expect((await rig(['facts', 'barn', 'roles', '--name', name])).stdout).toBe('db,primary');
  });

  it("writes an Ansible inventory that Debian's ansible uses against Docker and LXC nodes, groups from roles, no sshd", async () => {
    const inventory = await rig(['inventory', '--name', name]);
    expect(inventory.exitCode, inventory.all).toBe(0);
    const file = join(dir, 'inventory.yml');
    writeFileSync(file, inventory.stdout);
    const db = await execa('ansible', ['-i', file, 'db', '-m', 'raw', '-a', 'hostname'], {
      reject: false,
      env: { ANSIBLE_HOST_KEY_CHECKING: 'False' },
    });
    expect(db.exitCode, db.all).toBe(0);
    expect(db.stdout).toMatch(/^barn\.village\.test \| CHANGED \| rc=0 >>\nbarn$/m);
    expect(db.stdout).toMatch(/^mill\.village\.test \| CHANGED \| rc=0 >>\nmill$/m);
    expect(db.stdout).not.toContain('well');
    const web = await execa('ansible', ['-i', file, 'web', '--list-hosts']);
    expect(web.stdout).toContain('well.village.test');
  });

  it('runs a command on the nodes of a role, or on all, each line after its node, failing if one fails', async () => {
    const db = await rig(['exec', '--role', 'db', '--name', name, '--', 'hostname']);
    expect(db.exitCode, db.all).toBe(0);
    expect(db.stdout.split('\n').sort()).toEqual(['barn | barn', 'mill | mill']);
    const all = await rig([
      'exec',
      '--all',
      '--name',
      name,
      '--',
      'sh',
      '-c',
      'echo "$(hostname) out"; echo err >&2; [ "$(hostname)" != well ]',
    ]);
    expect(all.exitCode).toBe(1);
    expect(all.stdout.split('\n').sort()).toEqual(['barn | barn out', 'mill | mill out', 'well | well out']);
    expect(all.stderr.split('\n').sort()).toEqual(['barn | err', 'mill | err', 'rig: well.village.test: exited 1', 'well | err']);
    expect((await rig(['exec', '--role', 'nosuch', '--name', name, '--', 'true'])).exitCode).toBe(2);
  });

  it('writes JSON and an /etc/hosts fragment', async () => {
    const json = JSON.parse((await rig(['inventory', '--name', name, '--format', 'json'])).stdout);
    expect(json.nodes.find((n: { name: string }) => n.name === 'barn')).toMatchObject({
      fqdn: 'barn.village.test',
      ip: await ip('barn'),
      roles: ['db', 'primary'],
      mirrors: 'straleb.prod.example',
      backend: 'docker',
    });
    const hosts = (await rig(['inventory', '--name', name, '--format', 'hosts'])).stdout;
    expect(hosts).toContain(`${await ip('barn')} barn.village.test barn straleb.prod.example straleb`);
    expect(hosts).toContain(`${await ip('well')} well.village.test well`);
    expect((await rig(['inventory', '--name', name, '--format', 'xml'])).exitCode).toBe(2);
  });
});
