import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { docker, eventually, rig, rigBin, useRig } from './helpers.js';

// Failure drills on one rig that mixes backends: a is a Docker node, b an LXC node, c (Docker) the peer that looks.
const LXC_PATH = '/var/lib/lxc';

interface NodeView {
  fqdn: string;
  ip: string;
  stage: string;
}

/** Each node's name, address and stage from `rig status --json` (the one place that reads its field names). */
async function nodesOf(name: string): Promise<NodeView[]> {
  const status = await rig(['status', '--name', name, '--json']);
  expect(status.exitCode, status.all).toBe(0);
  const [found] = JSON.parse(status.stdout) as Array<{ nodes: NodeView[] }>;
  return found.nodes.map(({ fqdn, ip, stage }) => ({ fqdn, ip, stage }));
}

const nodeOf = async (name: string, short: string) => (await nodesOf(name)).find((n) => n.fqdn.startsWith(`${short}.`))!;

const sh = (name: string, node: string, script: string, timeoutMs = 60_000) =>
  rig(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=/.rig/bin:$PATH; ${script}`], { timeoutMs });

/** Whether `from` gets an answer to one ping to `to` (a name or an address). */
const answers = async (name: string, from: string, to: string) => (await sh(name, from, `ping -c 1 -W 2 ${to}`)).exitCode === 0;

/** The events recorded in the rig's etcd, read from inside a node as any node may read them. */
async function events(name: string, from = 'c'): Promise<Array<{ kind: string; node?: string; nodes?: string[]; detail?: string }>> {
  const range = `login && etcd /v3/kv/range "{\\"key\\":\\"$(b64 /rig/$RIG_NAME/events/)\\",\\"range_end\\":\\"$(b64 /rig/$RIG_NAME/events0)\\"}"`;
  const read = await sh(name, from, `. /.rig/bin/rig-fact --library; ${range}`);
  expect(read.exitCode, read.all).toBe(0);
  const kvs = (JSON.parse(read.stdout) as { kvs?: Array<{ value: string }> }).kvs ?? [];
  return kvs.map((kv) => JSON.parse(Buffer.from(kv.value, 'base64').toString()));
}

async function waitReady(name: string, short: string): Promise<NodeView> {
  const ready = await eventually(async () => (await nodeOf(name, short)).stage === 'ready', 90_000, 500);
  expect(ready, JSON.stringify(await nodesOf(name))).toBe(true);
  return nodeOf(name, short);
}

/** What the backend itself says of a node's container: Docker's state, or LXC's. */
async function containerState(name: string, short: string, backend: 'docker' | 'lxc'): Promise<string> {
  const container = `rig-${name}.${short}`;
  if (backend === 'docker')
    return (await execa('docker', ['inspect', '-f', '{{.State.Status}}', container], { reject: false })).stdout.trim();
  return (await execa('lxc-info', ['-P', LXC_PATH, '-n', container, '-s', '-H'], { reject: false })).stdout.trim();
}

describe('failure drills', () => {
  const { name } = useRig(
    'drills',
    (n) => `
name: ${n}
domain: drill.test
network: { internal: true }
configs: []
nodes:
  a.drill.test:
    provision:
      - shell: sleep 3
  b.drill.test:
    backend: lxc
  c.drill.test:
`,
  );

  it('refuses an unknown node, with the closest name, and records nothing', async () => {
    const result = await rig(['stop', 'aa', '--name', name]);
    expect(result.exitCode, result.all).toBe(2);
    expect(result.stderr).toMatch(/No node aa in rig .*did you mean a\?/s);
    const partition = await rig(['partition', 'a', 'nosuch', '--name', name]);
    expect(partition.exitCode, partition.all).toBe(2);
    expect(await events(name)).toEqual([]);
  });

  it("completes the drills' node arguments with the rig's nodes", async () => {
    for (const command of ['kill', 'replace', 'partition']) {
      const offered = await rig(['__complete', '--', command, '--name', name, '']);
      expect(offered.stdout.split('\n'), command).toEqual(expect.arrayContaining(['a', 'b.drill.test', 'c']));
    }
  });

  for (const [short, backend] of [
    ['a', 'docker'],
    ['b', 'lxc'],
  ] as const) {
    describe(`on a ${backend} node`, () => {
      it('stop: the container stops and status says so; start: ready again at its address, its peer reaches it', async () => {
        const before = await waitReady(name, short);
        const stop = await rig(['stop', short, '--name', name]);
        expect(stop.exitCode, stop.all).toBe(0);
        expect(await containerState(name, short, backend)).toMatch(backend === 'docker' ? /^exited$/ : /^STOPPED$/);
        expect((await nodeOf(name, short)).stage).toBe('stopped');
        const start = await rig(['start', short, '--name', name]);
        expect(start.exitCode, start.all).toBe(0);
        const after = await waitReady(name, short);
        expect(after.ip).toBe(before.ip);
        expect(await answers(name, 'c', short)).toBe(true);
      });

      it('kill: the container ends at once, no clean shutdown; start brings it back', async () => {
        const kill = await rig(['kill', short, '--name', name]);
        expect(kill.exitCode, kill.all).toBe(0);
        expect(await containerState(name, short, backend)).toMatch(backend === 'docker' ? /^exited$/ : /^STOPPED$/);
        if (backend === 'docker') expect(await docker(['inspect', '-f', '{{.State.ExitCode}}', `rig-${name}.${short}`])).toBe('137');
        expect((await nodeOf(name, short)).stage).toBe('stopped');
        expect((await rig(['start', short, '--name', name])).exitCode).toBe(0);
        await waitReady(name, short);
        expect(await answers(name, 'c', short)).toBe(true);
      });

      it('pause: status says paused and a peer gets no answer; unpause: it answers again', async () => {
        const pause = await rig(['pause', short, '--name', name]);
        expect(pause.exitCode, pause.all).toBe(0);
        expect((await nodeOf(name, short)).stage).toBe('paused');
        expect(await answers(name, 'c', short)).toBe(false);
        const unpause = await rig(['unpause', short, '--name', name]);
        expect(unpause.exitCode, unpause.all).toBe(0);
        expect(await answers(name, 'c', short)).toBe(true);
        expect((await nodeOf(name, short)).stage).toBe('ready');
      });

      it('replace: a fresh container, provisioned again, ready at the same address', async () => {
        const before = await waitReady(name, short);
        expect((await sh(name, short, 'touch /root/left-by-the-old-one')).exitCode).toBe(0);
        const replace = await rig(['replace', short, '--name', name]);
        expect(replace.exitCode, replace.all).toBe(0);
        const after = await waitReady(name, short);
        expect(after.ip).toBe(before.ip);
        expect((await sh(name, short, 'test -e /root/left-by-the-old-one')).exitCode).toBe(1);
        expect(await answers(name, 'c', short)).toBe(true);
      });

      it('replace --new-address: another address of the rig subnet; DNS, DHCP and the port guard follow', async () => {
        const before = await waitReady(name, short);
        const others = (await nodesOf(name)).filter((n) => n.fqdn !== before.fqdn).map((n) => n.ip);
        const replace = await rig(['replace', short, '--new-address', '--name', name]);
        expect(replace.exitCode, replace.all).toBe(0);
        const after = await waitReady(name, short);
        expect(after.ip).not.toBe(before.ip);
        expect(others).not.toContain(after.ip);
        expect(after.ip.split('.').slice(0, 2)).toEqual(before.ip.split('.').slice(0, 2));
        const resolved = await sh(name, 'c', `getent hosts ${short}`);
        expect(resolved.stdout.trim().split(/\s+/)[0], resolved.all).toBe(after.ip);
        expect(await answers(name, 'c', short)).toBe(true); // its traffic passes its port's guard at the new address
        expect(await answers(name, short, 'c')).toBe(true);
      });

      it('records each drill as an event in etcd, which nodes can read', async () => {
        const fqdn = `${short}.drill.test`;
        const kinds = (await events(name)).filter((e) => e.node === fqdn).map((e) => e.kind);
        expect(kinds).toEqual(['stop', 'start', 'kill', 'start', 'pause', 'unpause', 'replace', 'replace']);
      });
    });
  }

  it('a replace interrupted by Ctrl-C leaves the rig consistent: rig up makes the node again', async () => {
    const idOf = async () => (await execa('docker', ['inspect', '-f', '{{.Id}}', `rig-${name}.a`], { reject: false })).stdout.trim();
    const old = await idOf();
    const replace = execa('node', [rigBin, 'replace', 'a', '--name', name], { reject: false, all: true });
    // Interrupted once the new container is made, while it is provisioned (its step sleeps 3 s).
    expect(await eventually(async () => ![old, ''].includes(await idOf()), 60_000, 100)).toBe(true);
    replace.kill('SIGINT');
    const result = await replace;
    expect(result.exitCode, result.all).toBe(130);
    expect(result.all).toMatch(/rig up .* again/);
    // The rig is up as far as the replace got, and whole: a's new container, once made, is wired (never a running
    // node cut off from the rig), and goes on provisioning on its own.
    const status = await rig(['status', '--name', name]);
    expect(status.exitCode, status.all).toBe(0);
    expect(status.stdout).toContain('a.drill.test');
    expect(status.stdout).not.toContain('unwired');
    const file = (await docker(['network', 'ls', '--filter', `label=io.rig.rig=${name}`, '--format', '{{.Label "io.rig.file"}}'])).trim();
    const up = await rig(['up', file]);
    expect(up.exitCode, up.all).toBe(0);
    await waitReady(name, 'a');
    expect(await answers(name, 'c', 'a')).toBe(true);
  });
});
