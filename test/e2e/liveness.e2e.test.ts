import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { nodeWiring } from '../../src/runtime/veth.js';
import { docker, eventually, rig, rigBin, useRig } from './helpers.js';

// Issue 22.2: each node's agent keeps an etcd lease alive and its `alive` key bound to it; a node that dies (a
// Docker node killed, an LXC node stopped hard) loses its key within the lease's TTL, its peers see it go, and
// `rig status` says `lost`. The proxy holds a node to its one lease, on its own `alive` key.

/** A shell script run inside a node with rig-fact's helpers loaded (login, etcd PATH BODY as the node). */
const inNode = (name: string, node: string, script: string) =>
  rig(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=/.rig/bin:$PATH; . /.rig/bin/rig-fact --library; login; ${script}`]);

/** Each node's stage as `rig status --json` says it (one place to follow a rename of its fields). */
async function stages(name: string): Promise<Record<string, string>> {
  const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout) as Array<{
    nodes: Array<{ name: string; stage: string }>;
  }>;
  return Object.fromEntries(status.nodes.map((n) => [n.name, n.stage]));
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('liveness: a node that dies loses its alive key, and its peers see it', () => {
  const r = useRig(
    'live',
    (name) => `name: ${name}
domain: l.test
network: { internal: true }
configs: []
nodes:
  peer.l.test:
    on:
      - stage: lex
        run: [{ shell: 'rig-fact set lex_was "$RIG_REACTION_VALUE"' }]
  dock.l.test:
  lex.l.test:
    backend: lxc
`,
  );
  const alive = (node: string) => `/rig/${r.name}/nodes/${node}.l.test/alive`;
  const leaseOf = async (node: string) =>
    (await inNode(r.name, node, 'cat "$RIG_RUN/alive.lease" 2>/dev/null || cat /run/rig/alive.lease')).stdout.trim();

  it('gives every node an alive key bound to a lease of its own', async () => {
    expect(await stages(r.name)).toEqual({ dock: 'ready', lex: 'ready', peer: 'ready' });
    for (const node of ['dock', 'lex', 'peer']) {
      const read = await inNode(r.name, 'peer', `get_key ${alive(node)}`);
      expect(read.exitCode, `${node}: ${read.all}`).toBe(0);
    }
    const leases = await Promise.all(['dock', 'lex', 'peer'].map(leaseOf));
    for (const lease of leases) expect(lease).toMatch(/^\d+$/);
    expect(new Set(leases).size).toBe(3);
  });

  it('holds a hostile node to one lease, and refuses it keepalives of a peer, a lease on another key, and a peer alive key', async () => {
    const own = await leaseOf('dock');
    const peers = await leaseOf('peer');

    const keepPeer = await inNode(r.name, 'dock', `etcd /v3/lease/keepalive '{"ID":"${peers}"}'`);
    expect(keepPeer.stderr).toMatch(new RegExp(`lease ${peers} is not this node's \\(\\S+\\) to keep alive: its lease is ${own}`));
    const revokePeer = await inNode(r.name, 'dock', `etcd /v3/lease/revoke '{"ID":"${peers}"}'`);
    expect(revokePeer.stderr).toContain(`lease ${peers} is not this node's`);

    const fact = `/rig/${r.name}/nodes/dock.l.test/facts/x`;
    const bind = await inNode(r.name, 'dock', `etcd /v3/kv/put '{"key":"${b64(fact)}","value":"${b64('1')}","lease":"${own}"}'`);
    expect(bind.stderr).toContain(`a lease binds only the node's own alive key, not ${fact}`);
    const bindPeer = await inNode(
      r.name,
      'dock',
      `etcd /v3/kv/put '{"key":"${b64(alive('dock'))}","value":"${b64('1')}","lease":"${peers}"}'`,
    );
    expect(bindPeer.stderr).toContain(`lease ${peers} is not this node's`);
    const forever = await inNode(r.name, 'dock', `etcd /v3/kv/put '{"key":"${b64(alive('dock'))}","value":"${b64('1')}"}'`);
    expect(forever.stderr).toContain(`${alive('dock')} is put only with the node's lease`);
    // Its own lease on a peer's alive key: the proxy passes it (the key's shape is right), etcd's auth does not.
    const posing = await inNode(r.name, 'dock', `etcd /v3/kv/put '{"key":"${b64(alive('peer'))}","value":"${b64('1')}","lease":"${own}"}'`);
    expect(posing.stderr).toContain('HTTP/1.1 403 Forbidden'); // etcd's own refusal (the proxy's say why)

    // A second grant replaces its first (revoked, as a restarted node's would be): it never holds two.
    const second = await inNode(r.name, 'dock', `etcd /v3/lease/grant '{"TTL":60}'`);
    expect(second.exitCode, second.all).toBe(0);
    const keepFirst = await inNode(r.name, 'dock', `etcd /v3/lease/keepalive '{"ID":"${own}"}'`);
    expect(keepFirst.stderr).toContain(`lease ${own} is not this node's`);

    // The peer's lease and key are untouched, and dock's agent takes a lease of its own again: ready, not lost.
    expect(await leaseOf('peer')).toBe(peers);
    expect(await eventually(async () => (await stages(r.name)).dock === 'ready', 15_000)).toBe(true);
    expect(await stages(r.name)).toEqual({ dock: 'ready', lex: 'ready', peer: 'ready' });
  });

  it('cut off from the rig: its alive key goes, status says lost while its container runs, and it comes back on its own', async () => {
    const link = nodeWiring(r.name, 'dock.l.test').hostInterface;
    const watch = execa('node', [rigBin, 'status', '--watch', '--name', r.name], { env: { CI: 'true' }, reject: false });
    let out = '';
    watch.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      expect(await eventually(async () => out.includes('peer.l.test: ready'), 20_000)).toBe(true);
      await execa('ip', ['link', 'set', link, 'down']);
      expect(await eventually(async () => (await stages(r.name)).dock === 'lost', 30_000, 500)).toBe(true);
      expect((await inNode(r.name, 'peer', `get_key ${alive('dock')}`)).exitCode).toBe(1);
      expect(await eventually(async () => out.includes('dock.l.test: lost'), 10_000)).toBe(true);
    } finally {
      await execa('ip', ['link', 'set', link, 'up']);
      watch.kill('SIGINT');
      await watch;
    }
    // Its agent grants a lease again once etcd answers, and puts its alive key back.
    expect(await eventually(async () => (await stages(r.name)).dock === 'ready', 30_000, 500)).toBe(true);
  });

  it('keeps nodes alive across a sidecar restart: each grants a new lease once the proxy forgot the old', async () => {
    const before = await leaseOf('peer');
    await docker(['restart', '-t', '2', `rig-${r.name}.sidecar`]);
    const renewed = await eventually(
      async () => {
        const now = await leaseOf('peer');
        return now !== before && /^\d+$/.test(now) && (await inNode(r.name, 'dock', `get_key ${alive('peer')}`)).exitCode === 0;
      },
      60_000,
      500,
    );
    expect(renewed).toBe(true);
    expect(await eventually(async () => Object.values(await stages(r.name)).every((s) => s === 'ready'), 60_000, 500)).toBe(true);
  });

  it('dock, its alive key bound to a 60 s lease: a docker kill revokes it at once (the keeper hears the death)', async () => {
    // Its agent's keepalives stop, and its key is bound to a lease that would outlive the peer's 30 s wait: only
    // the host's revoke on the container's death can wake the peer in time.
    const longLease =
      'kill "$(cat /run/rig/alive.pid)" && id=$(etcd /v3/lease/grant \'{"TTL":60}\' | json_field ID) && ' +
      `etcd /v3/kv/put "{\\"key\\":\\"$(b64 ${alive('dock')})\\",\\"value\\":\\"$(b64 x)\\",\\"lease\\":\\"$id\\"}"`;
    const bound = await inNode(r.name, 'dock', longLease);
    expect(bound.stdout, bound.all).toContain('"header"');
    const waiting = inNode(r.name, 'peer', `rig-fact lost --timeout 30 dock; echo "lost-rc=$?"`);
    expect(await eventually(async () => (await docker(['exec', `rig-${r.name}.peer`, '/.rig/bin/ps'])).includes('/v3/watch'), 20_000)).toBe(
      true,
    );
    await docker(['kill', `rig-${r.name}.dock`]);
    const seen = await waiting;
    expect(seen.stdout, seen.all).toContain('lost-rc=0');
    expect((await stages(r.name)).dock).toBe('stopped');
    const started = await rig(['start', 'dock', '--name', r.name]);
    expect(started.exitCode, started.all).toBe(0);
  });

  it.each([
    ['dock', (name: string) => docker(['kill', `rig-${name}.dock`])],
    ['lex', (name: string) => execa('lxc-stop', ['-P', '/var/lib/lxc', '-n', `rig-${name}.lex`, '-k'])],
  ])('%s killed: its alive key goes within seconds and a peer waiting on it wakes', async (node, kill) => {
    const waiting = inNode(r.name, 'peer', `rig-fact lost --timeout 60 ${node}; echo "lost-rc=$?"`);
    // The peer's watch is on once it runs: its wget of the watch shows in the node's processes.
    expect(await eventually(async () => (await docker(['exec', `rig-${r.name}.peer`, '/.rig/bin/ps'])).includes('/v3/watch'), 20_000)).toBe(
      true,
    );
    const killed = Date.now();
    await kill(r.name);
    const seen = await waiting;
    const detected = (Date.now() - killed) / 1000;
    expect(seen.stdout, seen.all).toContain('lost-rc=0');
    console.log(`liveness: ${node} killed -> its alive key gone and a peer's watch woke after ${detected.toFixed(1)} s`);
    expect((await inNode(r.name, 'peer', `get_key ${alive(node)}`)).exitCode).toBe(1);
    // The host sees its container stopped, and says so (lost is what a running node whose key went reads as).
    expect((await stages(r.name))[node]).toBe('stopped');
  });

  it("lets a peer react to a node that died: its reaction to lex's stage ran with lost", async () => {
    const was = async () => (await rig(['facts', 'peer', 'lex_was', '--name', r.name])).stdout.trim();
    expect(await eventually(async () => (await was()) === 'lost', 30_000)).toBe(true);
    expect(await eventually(async () => (await stages(r.name)).peer === 'ready', 30_000)).toBe(true);
  });
});
