import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { leftovers, rig, rigBin, uniqueName } from './helpers.js';

/**
 * The orchard example (rigs/orchard: an Ansible control repo, a Docker and an LXC web node converged by an
 * `ansible:` step from the host, and a checker node), in a copy of its own under a unique name.
 */
const example = resolve(import.meta.dirname, '../../rigs/orchard');
const name = uniqueName('orch');
const dir = mkdtempSync(join(tmpdir(), 'rig-e2e-orchard-'));
const TASKS = join(dir, 'ansible/roles/webpage/tasks/main.yml');

beforeAll(async () => {
  cpSync(example, dir, { recursive: true });
  const up = await rig(['up', 'rig.yaml', '--name', name], { cwd: dir });
  expect(up.exitCode, up.all).toBe(0);
});

afterAll(async () => {
  await rig(['down', '--name', name]);
  rmSync(dir, { recursive: true, force: true });
  expect(await leftovers(name)).toEqual([]);
});

/** A task added to the example's role for one test, and taken out again whatever happens. */
async function withTask<T>(task: string, run: () => Promise<T>): Promise<T> {
  const before = readFileSync(TASKS, 'utf8');
  appendFileSync(TASKS, `\n${task}\n`);
  try {
    return await run();
  } finally {
    writeFileSync(TASKS, before);
  }
}

describe('an ansible step (rigs/orchard)', () => {
  it("converges Docker and LXC nodes from the host with the live nodes' host_vars; peers find each other by live names", async () => {
    const test = await rig(['test', '--name', name]);
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toContain('6 passed, 0 failed');
    const log = await rig(['logs', 'press', '--name', name]);
    expect(log.stdout).toMatch(/^TASK \[webpage : the page\]/m); // the playbook's output is in the node's log
    expect(log.stdout).toMatch(/^press\.orchard\.test +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0/m);
    const page = await rig([
      'exec',
      'gate',
      '--name',
      name,
      '--',
      'python3',
      '-c',
      'import urllib.request as u; print(u.urlopen("http://apple.prod.example:8080/").read().decode())',
    ]);
    expect(page.stdout).toContain('apples, fresh at grove.orchard.test; peer pear.prod.example');
  });

  it('--idempotent passes on the example and fails naming the task that changed; a failed task fails the node with its message', async () => {
    const twice = await rig(['provision', '--idempotent', 'grove', 'press', '--name', name]);
    expect(twice.exitCode, twice.all).toBe(0);
    expect(twice.stdout).toMatch(/^grove\.orchard\.test +provisioned in .* s, second run changed nothing, validate 2\/2 passed$/m);
    expect(twice.stdout).toMatch(/^press\.orchard\.test +provisioned in .* s, second run changed nothing, validate 2\/2 passed$/m);

    const stamped = await withTask('- name: stamp\n  ansible.builtin.command: date', () =>
      rig(['provision', '--idempotent', 'grove', '--name', name]),
    );
    expect(stamped.exitCode, stamped.all).toBe(1);
    expect(stamped.stdout).toContain(
      'grove.orchard.test  FAILED: not idempotent: step 1/1 (ansible) changed on the second run: TASK [webpage : stamp]',
    );

    const refused = await withTask('- name: refuse\n  ansible.builtin.fail: { msg: "no apples \\u001b[31mtoday" }', () =>
      rig(['provision', 'press', '--name', name]),
    );
    expect(refused.exitCode, refused.all).toBe(1);
    expect(refused.stdout).toContain(
      'press.orchard.test  FAILED: step 1/1 (ansible) failed: TASK [webpage : refuse]: no apples \\x1b[31mtoday',
    );
    expect(refused.all).not.toContain('\u001b[31m'); // what the node said is printed safely
    expect((await rig(['provision', 'press', '--name', name])).exitCode).toBe(0); // and converges again
  });

  it('rig watch re-converges the nodes that run the playbook on a role edit, and only the live node’s on its host_vars edit', async () => {
    const watch = execa('node', [rigBin, 'watch', '--name', name, '--json'], { cwd: dir, env: { CI: 'true' }, reject: false });
    let stdout = '';
    let stderr = '';
    const verdicts: Array<{ passed: boolean; triggers: Array<{ nodes: string[] }> }> = [];
    let heard = () => {};
    watch.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      verdicts.splice(
        0,
        verdicts.length,
        ...stdout
          .split('\n')
          .filter((l) => l.includes('"verdict"'))
          .map((l) => JSON.parse(l)),
      );
      heard();
    });
    const watching = new Promise<void>((ok) =>
      watch.stderr!.on('data', (c: Buffer) => (stderr += c.toString()).includes('watching ') && ok()),
    );
    /** The nth verdict, once rig watch prints it (its output is followed, not polled). */
    const verdict = (n: number) =>
      new Promise<(typeof verdicts)[number]>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no verdict ${n} within 200 s: ${stdout}\n${stderr}`)), 200_000);
        heard = () => verdicts.length >= n && (clearTimeout(timer), ok(verdicts[n - 1]));
        heard();
      });
    try {
      await watching;
      const template = join(dir, 'ansible/roles/webpage/templates/index.html.j2');
      writeFileSync(template, readFileSync(template, 'utf8').replace('peer', 'next door'));
      const role = await verdict(1);
      expect(role.passed, stdout).toBe(true);
      expect(role.triggers.flatMap((t) => t.nodes).sort()).toEqual(['grove.orchard.test', 'press.orchard.test']);
      const hostVars = join(dir, 'ansible/host_vars/apple.prod.example.yml');
      writeFileSync(hostVars, readFileSync(hostVars, 'utf8').replace('apples, fresh', 'apples, crisp'));
      const live = await verdict(2);
      expect(live.triggers.flatMap((t) => t.nodes)).toEqual(['grove.orchard.test']);
      const page = await rig(['exec', 'grove', '--name', name, '--', 'cat', '/srv/webpage/index.html']);
      expect(page.stdout).toBe('<p>apples, crisp at grove.orchard.test; next door pear.prod.example</p>');
    } finally {
      watch.kill('SIGINT');
      await watch;
    }
  });
});
