import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchPlaybooks } from '../../src/engine/update-playbooks.js';
import type { NodeInstance } from '../../src/runtime/backend.js';
import type { InventoryHost } from '../../src/ansible/inventory.js';

// A stand-in for ansible-playbook on the PATH (the real one runs in test/e2e/ansible-update.e2e.test.ts): it logs
// the playbook and its --limit, answers in ansible's default output (a playbook named fail*: b.v.test fails its
// task), and a playbook named slow* first waits on a background sleep, whose PID it writes down.
// Like ansible-playbook, it reads its inventory (rig's script, which waits for rig's go) before its --limit @file.
const FAKE = `#!/bin/sh
"$2" --list > /dev/null || exit 1
limit=$(paste -sd, "\${4#@}"); playbook=$(basename "$5")
echo "$playbook $limit" >> "$FAKE_LOG"
case "$playbook" in slow*) sleep 100 & echo $! > "$FAKE_LOG.sleep"; wait;; esac
echo "TASK [upgrade : the version] ***"
code=0
for h in $(echo "$limit" | tr , ' '); do
  case "$playbook$h" in fail*b.v.test) echo "fatal: [$h]: FAILED! => {\\"msg\\": \\"no upgrade for $h\\"}"; code=2;; *) echo "changed: [$h]";; esac
done
echo "PLAY RECAP ***"
for h in $(echo "$limit" | tr , ' '); do
  case "$playbook$h" in fail*b.v.test) f=1;; *) f=0;; esac
  echo "$h : ok=1 changed=1 unreachable=0 failed=$f"
done
exit $code
`;

let dir: string;
let log: string;
const path = process.env.PATH;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rig-update-playbooks-'));
  writeFileSync(join(dir, 'ansible-playbook'), FAKE);
  chmodSync(join(dir, 'ansible-playbook'), 0o755);
  process.env.PATH = `${dir}:${path}`;
});
afterAll(() => {
  process.env.PATH = path;
  delete process.env.FAKE_LOG;
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  log = join(dir, `runs-${Math.random()}`);
  process.env.FAKE_LOG = log;
});

const node = (name: string, update: NodeInstance['update']): NodeInstance => ({
  rig: 'r',
  node: `${name}.v.test`,
  backend: 'docker',
  name: `rig-r.${name}`,
  running: true,
  update,
});
const inventory = async (): Promise<InventoryHost[]> =>
  ['a', 'b', 'c'].map((n, i) => ({
    fqdn: `${n}.v.test`,
    container: `rig-r.${n}`,
    backend: 'docker',
    ip: `10.0.0.${17 + i}`,
    roles: ['web'],
  }));
const runs = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

describe("the ansible steps of a rolling update's batch", () => {
  it('run a playbook once for the nodes of the batch that reach it, --limit to them, each told its own verdict', async () => {
    const batch = [node('a', [{ ansible: 'fail.yml' }]), node('b', [{ ansible: 'fail.yml' }])];
    const playbooks = new BatchPlaybooks(inventory, dir, batch);
    const [a, b] = await Promise.all([playbooks.run('a.v.test', 0, 'fail.yml'), playbooks.run('b.v.test', 0, 'fail.yml')]);
    expect(runs()).toEqual(['fail.yml a.v.test,b.v.test']);
    expect(a.failure).toBeUndefined();
    expect(a.output).toContain('changed: [a.v.test]');
    expect(b.failure).toBe('failed: TASK [upgrade : the version]: no upgrade for b.v.test');
  });

  it('do not wait for a node that leaves before its step (it failed), nor share a run with a step at another place', async () => {
    const batch = [node('a', [{ ansible: 'up.yml' }]), node('b', [{ ansible: 'up.yml' }]), node('c', ['true', { ansible: 'up.yml' }])];
    const playbooks = new BatchPlaybooks(inventory, dir, batch);
    const a = playbooks.run('a.v.test', 0, 'up.yml');
    playbooks.leave('b.v.test');
    expect((await a).failure).toBeUndefined();
    expect((await playbooks.run('c.v.test', 1, 'up.yml')).failure).toBeUndefined();
    expect(runs()).toEqual(['up.yml a.v.test', 'up.yml c.v.test']);
  });

  it('end a run under way on the interrupt, its whole process group, and start none after it', async () => {
    const controller = new AbortController();
    const playbooks = new BatchPlaybooks(inventory, dir, [node('a', [{ ansible: 'slow.yml' }, { ansible: 'up.yml' }])], controller.signal);
    const running = playbooks.run('a.v.test', 0, 'slow.yml');
    const sleep = `${log}.sleep`;
    while (!existsSync(sleep) || !readFileSync(sleep, 'utf8').trim()) await new Promise((resolve) => setTimeout(resolve, 20));
    const pid = Number(readFileSync(sleep, 'utf8'));
    controller.abort();
    expect(await running).toMatchObject({ interrupted: true });
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive()) await new Promise((resolve) => setTimeout(resolve, 20)); // the test's deadline bounds this
    expect(await playbooks.run('a.v.test', 1, 'up.yml')).toEqual({ output: '', interrupted: true });
    expect(runs()).toEqual(['slow.yml a.v.test']);
    playbooks.close();
  });
});
