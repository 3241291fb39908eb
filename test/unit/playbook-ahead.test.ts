import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlaybooksAhead, recapNames, scriptInventory, startPlaybook, verdictOf } from '../../src/ansible/playbook.js';
import { ansibleInventory } from '../../src/ansible/inventory.js';

// Debian's ansible-playbook itself (scripts/setup installs it), on this machine only: a local connection per host.
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rig-playbook-ahead-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const local = (host: string, roles: string[]) => ({
  fqdn: host,
  container: host,
  backend: 'docker' as const,
  ip: '',
  roles,
  mirrors: `${host}.live`,
});
const inventory = () => {
  const i = ansibleInventory([local('a.v.test', ['web']), local('b.v.test', ['web', 'db']), local('c.v.test', [])]);
  for (const vars of Object.values(i.all.hosts) as Array<Record<string, unknown>>) vars.ansible_connection = 'local';
  return i;
};
/** A playbook that writes, per host, a line of what it knows: its groups and its live name. */
const playbook = (line: string) => {
  const file = join(dir, 'site.yml');
  writeFileSync(file, `- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo "${line}" >> ${dir}/ran\n`);
  return file;
};
const ran = () => (existsSync(join(dir, 'ran')) ? readFileSync(join(dir, 'ran'), 'utf8').trim().split('\n').sort() : []);

// Each test runs Debian's real ansible-playbook (a Python start of a second or more, far longer on a loaded machine).
describe('ansible-playbook started ahead of need', { timeout: 120_000 }, () => {
  it('runs nothing before it is handed its inventory, then only the hosts it is told, with their groups and variables', async () => {
    const file = playbook('{{ inventory_hostname }} {{ group_names | join(",") }} {{ rig_live_name }}');
    const running = new Set<() => void>();
    const started = startPlaybook(file, dir, running);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // Ansible has loaded and waits
    expect(ran()).toEqual([]);
    expect(started.gone).toBe(false);
    const run = await started.run(inventory(), ['a.v.test', 'b.v.test'], 60_000);
    expect(run.exitCode).toBe(0);
    expect(ran()).toEqual(['a.v.test web a.v.test.live', 'b.v.test db,web b.v.test.live']);
    expect(running.size).toBe(0);
  });

  it('reads the playbook when it is handed its inventory, not when it starts: an edit made while it waits counts', async () => {
    const file = playbook('before');
    const started = startPlaybook(file, dir, new Set());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    playbook('after {{ inventory_hostname }}');
    expect((await started.run(inventory(), ['c.v.test'], 60_000)).exitCode).toBe(0);
    expect(ran()).toEqual(['after c.v.test']);
  });

  it('keeps one waiting per playbook while runs are to come, and ends the waiting ones and their files when stopped', async () => {
    const file = playbook('{{ inventory_hostname }}');
    const ahead = new PlaybooksAhead(new Map([[file, 2]]), dir);
    expect(readdirSync(dir).filter((f) => f.startsWith('rig-ansible-'))).toHaveLength(1);
    const first = ahead.take(file);
    const second = ahead.take(file); // started behind the first, while it waited
    const third = ahead.take(file); // none was to come: started when asked
    expect((await first.run(inventory(), ['a.v.test'], 60_000)).exitCode).toBe(0);
    expect(ran()).toEqual(['a.v.test']);
    ahead.stop();
    const [ended, alsoEnded] = await Promise.all([
      second.run(inventory(), ['b.v.test'], 60_000),
      third.run(inventory(), ['c.v.test'], 60_000),
    ]);
    expect(ended.exitCode).not.toBe(0);
    expect(alsoEnded.exitCode).not.toBe(0);
    expect(ran()).toEqual(['a.v.test']);
    expect(readdirSync(dir).filter((f) => f.startsWith('rig-ansible-'))).toEqual([]);
    expect(() => ahead.take(file)).toThrow(/ending/);
  });

  it('with untilRecap, answers once its recap names the hosts, and leaves Ansible its own ending', async () => {
    const file = playbook('{{ inventory_hostname }}');
    // A callback run after the default one has printed the recap, which holds Ansible there until told.
    mkdirSync(join(dir, 'callback_plugins'));
    writeFileSync(
      join(dir, 'callback_plugins', 'hold.py'),
      [
        'import os, time',
        'from ansible.plugins.callback import CallbackBase',
        'class CallbackModule(CallbackBase):',
        "    CALLBACK_VERSION, CALLBACK_TYPE, CALLBACK_NAME, CALLBACK_NEEDS_ENABLED = 2.0, 'aggregate', 'hold', False",
        '    def v2_playbook_on_stats(self, stats):',
        `        open(${JSON.stringify(join(dir, 'held'))}, 'w').close()`,
        `        while not os.path.exists(${JSON.stringify(join(dir, 'release'))}): time.sleep(0.05)`,
        '',
      ].join('\n'),
    );
    const running = new Set<() => void>();
    const started = startPlaybook(file, dir, running);
    const run = await started.run(inventory(), ['a.v.test', 'b.v.test'], 60_000, { untilRecap: true });
    expect(run.exitCode).toBeUndefined(); // still held: it has not ended
    expect(started.gone).toBe(false);
    expect(recapNames(run.output, ['a.v.test', 'b.v.test'])).toBe(true);
    expect(verdictOf(run.output, run.exitCode, 'b.v.test', 1)).toMatchObject({ code: 0 });
    expect(running.size).toBe(0); // rig's stop no longer ends it
    writeFileSync(join(dir, 'release'), '');
    await vi.waitFor(() => expect(started.gone).toBe(true), { timeout: 30_000, interval: 100 });
    expect(existsSync(join(dir, 'held'))).toBe(true); // it was held there, so it could not have ended before
    expect(ran()).toEqual(['a.v.test', 'b.v.test']);
  });

  it('says so when ansible-playbook cannot start', async () => {
    const path = process.env.PATH;
    process.env.PATH = dir; // no ansible-playbook on it
    try {
      const run = await startPlaybook(playbook('x'), dir, new Set()).run(inventory(), ['a.v.test'], 60_000);
      expect(run.exitCode).toBe(127);
      expect(run.output).toMatch(/cannot run ansible-playbook: .*ENOENT.*install Debian's ansible/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('the inventory as a script prints it', () => {
  it('has every host under all with its variables in _meta, and each group with its hosts', () => {
    const script = scriptInventory(ansibleInventory([local('a.v.test', ['web']), local('b.v.test', ['web', 'db']), local('c.v.test', [])]));
    expect(script.all).toEqual({ hosts: ['a.v.test', 'b.v.test', 'c.v.test'], children: ['db', 'web'] });
    expect(script).toMatchObject({ web: { hosts: ['a.v.test', 'b.v.test'] }, db: { hosts: ['b.v.test'] } });
    expect(script._meta.hostvars['b.v.test']).toMatchObject({ ansible_host: 'b.v.test', rig_live_name: 'b.v.test.live' });
  });
});
