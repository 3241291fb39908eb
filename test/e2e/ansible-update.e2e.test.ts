import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, ended, eventually, killSpawned, leftovers, rig, spawnRig, uniqueName, useRig } from './helpers.js';
import { schemaErrors } from '../schemas.js';

/**
 * A rolling update by an Ansible playbook: an `ansible:` step in `update:`, run from the host once per batch, as
 * the provisioning step runs it, on a Docker node and an LXC node. The control repo knows nothing of rig: a
 * playbook for the `web` group, group_vars, and the live nodes' host_vars, which rig's links give each node.
 */
const PLAYBOOK = `- name: upgrade
  hosts: web
  gather_facts: false
  tasks:
    - name: the batch, as the host sees it
      ansible.builtin.shell: echo "{{ ansible_play_hosts | join(',') }}" >> "{{ playbook_dir }}/../batches.log"
      delegate_to: localhost
      run_once: true
    - name: the new version
      ansible.builtin.copy:
        dest: /etc/app-version
        content: "version {{ app_version }} of {{ flavour }} on {{ inventory_hostname }}\\n"
`;

const marker = () => `9${process.pid % 1000}${Math.floor(Math.random() * 1e6)}`;

describe('rig update with an ansible: step (Docker and LXC nodes)', () => {
  const r = useRig(
    'ans-upd',
    (name) => `name: ${name}
domain: village.test
network: { internal: true }
init: systemd
configs:
  - dir: ansible/host_vars
    file: "{node}.yml"
update:
  - ansible: ansible/upgrade.yml
  - test -s /etc/app-version
validate:
  - grep -q "^version 2 of" /etc/app-version
nodes:
  a.village.test:
    mirrors: apple.prod.example
    roles: [web]
  b.village.test:
    mirrors: pear.prod.example
    roles: [web]
    backend: lxc
`,
    {
      'ansible/upgrade.yml': PLAYBOOK,
      'ansible/group_vars/web.yml': 'app_version: 2\n',
      'ansible/host_vars/apple.prod.example.yml': 'flavour: apples\n',
      'ansible/host_vars/pear.prod.example.yml': 'flavour: pears\n',
    },
  );
  const playbook = () => join(r.dir, 'ansible/upgrade.yml');
  const version = async (node: string) => (await rig(['exec', node, '--name', r.name, '--', 'cat', '/etc/app-version'])).stdout.trim();

  afterEach(() => {
    killSpawned();
    writeFileSync(playbook(), PLAYBOOK);
  });

  it('records the ansible step on the node as the rig file has it, relative to the rig file', async () => {
    const labels = JSON.parse(await docker(['inspect', '-f', '{{json .Config.Labels}}', `rig-${r.name}.a`]));
    expect(JSON.parse(labels['io.rig.update'])).toEqual([{ ansible: 'ansible/upgrade.yml' }, 'test -s /etc/app-version']);
    expect(readFileSync(`/var/lib/lxc/rig-${r.name}.b/config`, 'utf8')).toContain(
      '# io.rig.update = [{"ansible":"ansible/upgrade.yml"},"test -s /etc/app-version"]',
    );
  });

  it("runs the playbook from the host on one node per batch, in order, with each live node's host_vars, then validates", async () => {
    const update = await rig(['update', 'b', 'a', '--batch', '1', '--name', r.name]);
    expect(update.exitCode, update.all).toBe(0);
    const lines = update.stdout.split('\n');
    const line = (node: string) => lines.findIndex((l) => l.startsWith(`${node}.village.test  updated in `));
    expect(line('b'), update.stdout).toBeGreaterThanOrEqual(0);
    expect(line('a')).toBeGreaterThan(line('b'));
    expect(update.stdout).toMatch(/^a\.village\.test {2}updated in [\d.]+ s, validate 1\/1 passed$/m);
    expect(update.stdout).toContain('updated: b.village.test, a.village.test');
    // One ansible-playbook run per batch, --limit'ed to it, in the order given (the playbook logs each run's hosts).
    expect(readFileSync(join(r.dir, 'batches.log'), 'utf8')).toBe('b.village.test\na.village.test\n');
    expect(await version('a')).toBe('version 2 of apples on a.village.test');
    expect(await version('b')).toBe('version 2 of pears on b.village.test');

    // --json: the same schema; each node's result has its own run's output.
    writeFileSync(join(r.dir, 'batches.log'), '');
    const json = await rig(['update', '--batch', '2', '--json', '--name', r.name]);
    expect(json.exitCode, json.all).toBe(0);
    const result = JSON.parse(json.stdout) as { results: Array<{ fqdn: string; output: string }>; updated: string[] };
    expect(schemaErrors('update', result)).toEqual([]);
    expect(result.updated.sort()).toEqual(['a.village.test', 'b.village.test']);
    expect(result.results[0].output).toMatch(/^a\.village\.test +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0/m);
    expect(result.results[0].output).toMatch(/^b\.village\.test +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0/m);
    const runs = readFileSync(join(r.dir, 'batches.log'), 'utf8').trim().split('\n');
    expect(runs.map((hosts) => hosts.split(',').sort().join(','))).toEqual(['a.village.test,b.village.test']); // both in one run
  });

  it('stops the rolling update at a failed task, naming it and its message, and says which nodes have the update', async () => {
    writeFileSync(
      playbook(),
      PLAYBOOK.replace('app_version }}', 'app_version + 1 }}') +
        '    - name: refuse the upgrade\n      ansible.builtin.fail: { msg: "no upgrade for {{ flavour }}" }\n      when: inventory_hostname == "b.village.test"\n',
    );
    const update = await rig(['update', 'a', 'b', '--batch', '1', '--name', r.name]);
    expect(update.exitCode, update.all).toBe(1);
    // a's validate wants version 2: the update reached it (version 3), so it fails there, and b is not run.
    expect(update.stdout).toMatch(
      /^a\.village\.test {2}FAILED: validate command "grep -q \\"\^version 2 of\\" \/etc\/app-version" exited 1$/m,
    );
    expect(await version('a')).toBe('version 3 of apples on a.village.test');
    expect(update.stdout).toContain(
      'not updated: a.village.test, b.village.test (b.village.test not run: the update stopped at the first failure)',
    );
    expect(await version('b')).toBe('version 2 of pears on b.village.test');

    const failed = await rig(['update', 'b', 'a', '--batch', '1', '--name', r.name]);
    expect(failed.exitCode, failed.all).toBe(1);
    expect(failed.stdout).toContain(
      'b.village.test  FAILED: update step 1 (ansible ansible/upgrade.yml) failed: TASK [refuse the upgrade]: no upgrade for pears',
    );
    expect(failed.stdout).toMatch(/^TASK \[refuse the upgrade\] \*+$/m); // the playbook's output, under the failure
    expect(failed.stdout).toContain('updated: none');
    expect(failed.stdout).toContain(
      'not updated: b.village.test, a.village.test (a.village.test not run: the update stopped at the first failure)',
    );
  });

  it('SIGINT during the playbook ends it (its process group, what it runs in the node too), says which nodes have the update, exit 130', async () => {
    const mark = marker();
    writeFileSync(playbook(), `${PLAYBOOK}    - name: a long upgrade\n      ansible.builtin.command: sleep ${mark}\n`);
    const sleeping = async () => (await docker(['exec', `rig-${r.name}.a`, '/.rig/bin/ps', '-o', 'args'])).includes(`sleep ${mark}`);
    const onHost = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .some((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(playbook());
          } catch {
            return false; // gone meanwhile
          }
        });
    const update = spawnRig(['update', 'a', 'b', '--name', r.name]);
    expect(await eventually(sleeping, 120_000), update.output()).toBe(true);
    update.child.kill('SIGINT');
    const end = await ended(update);
    expect(end.code, update.output()).toBe(130);
    expect(update.output()).toMatch(/^a\.village\.test {2}INTERRUPTED: ansible-playbook ansible\/upgrade\.yml was ended \(interrupted\)$/m);
    expect(update.output()).toContain(
      'not updated: a.village.test, b.village.test (a.village.test interrupted: what ran in it was ended; b.village.test not run: the update was interrupted)',
    );
    expect(await eventually(async () => !(await sleeping()), 30_000)).toBe(true);
    expect(await eventually(async () => !onHost(), 30_000)).toBe(true);
  });

  it('refuses a playbook that is not there: at its line in the rig file, and in rig update before any node is updated', async () => {
    const bad = uniqueName('ans-bad');
    writeFileSync(
      join(r.dir, 'bad.yaml'),
      `name: ${bad}\ndomain: village.test\nconfigs: []\nnodes:\n  a.village.test:\n    update:\n      - ansible: ansible/gone.yml\n`,
    );
    for (const command of ['check', 'up']) {
      const refused = await rig([command, 'bad.yaml'], { cwd: r.dir });
      expect(refused.exitCode, refused.all).toBe(2);
      expect(refused.stderr).toContain(
        `bad.yaml:7:18: nodes["a.village.test"].update[0].ansible: playbook ansible/gone.yml does not exist (looked for ${join(r.dir, 'ansible/gone.yml')})`,
      );
    }
    expect(await leftovers(bad)).toEqual([]);

    renameSync(playbook(), `${playbook()}.away`);
    try {
      const update = await rig(['update', '--name', r.name]);
      expect(update.exitCode, update.all).toBe(2);
      expect(update.stderr).toContain(
        `a.village.test's update runs the playbook ansible/upgrade.yml, which is not there (looked for ${playbook()}, next to the rig file ${join(r.dir, 'rig.yaml')}); no node was updated.`,
      );
      expect(update.stdout).toBe('');
    } finally {
      renameSync(`${playbook()}.away`, playbook());
    }
  });
});
