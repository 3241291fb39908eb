import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { docker, fixtureDir, leftovers, rig, rigBin, uniqueName } from './helpers.js';

const base = (name: string, nodes: string) => `
name: ${name}
domain: village.test
network:
  internal: true
configs: []
nodes:
${nodes}`;

/**
 * etcd's own count of calls started, by method (Range, Txn, Watch), read from its metrics endpoint inside the
 * sidecar (etcd listens on loopback there; the nodes' proxy on the rig bridge serves no metrics).
 */
async function etcdCalls(rig: string): Promise<Record<string, number>> {
  const text = await docker(['exec', `rig-${rig}.sidecar`, 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:2379/metrics']);
  const count = (method: string, service: string) =>
    Number(
      new RegExp(`^grpc_server_started_total\\{grpc_method="${method}",grpc_service="${service}",[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ??
        NaN,
    );
  return { range: count('Range', 'etcdserverpb.KV'), watch: count('Watch', 'etcdserverpb.Watch'), txn: count('Txn', 'etcdserverpb.KV') };
}

describe('provisioning with peer discovery', () => {
  const name = uniqueName('prov');
  const fixture = fixtureDir(
    base(
      name,
      `  a.village.test:
    provision:
      - shell: |
          echo "provisioning $(hostname)"
          rig-fact set role primary
  b.village.test:
    needs: [a.role]
    provision:
      - shell: echo "a is the $(rig-fact get a role) at $(rig-fact get a ipaddress)" > /tmp/peer
  c.village.test:
    needs: [a, b]
    provision:
      - shell: echo "both ready"
      - script: steps/second.sh
`,
    ),
  );

  beforeAll(async () => {
    await execa('sh', [
      '-c',
      `mkdir -p ${fixture.dir}/steps && printf 'echo "second step in $(pwd)"\\nrig-fact set second done\\n' > ${fixture.dir}/steps/second.sh`,
    ]);
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
  });

  it("runs each node's steps after what it needs is published, with peers found through etcd", async () => {
    const status = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
    expect(status.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready', 'ready']);
    const peer = await docker(['exec', `rig-${name}.b`, 'cat', '/tmp/peer']);
    expect(peer.trim()).toBe(`a is the primary at ${status.nodes[0].ip}`);
    const logs = await rig(['logs', 'c', '--name', name]);
    expect(logs.stdout).toContain('both ready');
    expect(logs.stdout).toContain('second step in /.rig-repo');
    expect((await rig(['facts', 'c', 'second', '--name', name])).stdout.trim()).toBe('done');
    expect((await rig(['facts', 'a', 'role', '--name', name])).stdout.trim()).toBe('primary');
  });

  it('wakes a waiting node on the publish itself: a watch, not a polling loop', async () => {
    const before = await etcdCalls(name);
    const waiter = execa('docker', ['exec', `rig-${name}.b`, '/.rig/bin/rig-fact', 'wait', '--timeout', '60', 'a', 'color'], {
      reject: false,
    });
    // The waiter has read the key once and opened its watch when etcd counts one more Watch.
    for (let i = 0; i < 100 && (await etcdCalls(name)).watch === before.watch; i++) await new Promise((r) => setTimeout(r, 100));
    const watching = await etcdCalls(name);
    expect(watching.watch).toBe(before.watch + 1);
    // Idle for three seconds: a poller would read the key again and again.
    await new Promise((r) => setTimeout(r, 3000));
    const idle = await etcdCalls(name);
    expect(idle.range).toBe(watching.range);
    await docker(['exec', `rig-${name}.a`, '/.rig/bin/rig-fact', 'set', 'color', 'blue']);
    const woke = await waiter;
    expect(woke.exitCode).toBe(0);
    expect(woke.stdout.trim()).toBe('blue');
    // One read before watching, none while waiting.
    expect((await etcdCalls(name)).range - before.range).toBe(1);
  });

  it('with --change, waits for the next write even when the fact exists', async () => {
    const before = await etcdCalls(name);
    const waiter = execa('docker', ['exec', `rig-${name}.c`, '/.rig/bin/rig-fact', 'wait', '--timeout', '30', '--change', 'a', 'role'], {
      reject: false,
    });
    // Write only once the waiter follows its watch (etcd counts one more Watch): a write before would go unseen.
    for (let i = 0; i < 100 && (await etcdCalls(name)).watch === before.watch; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await etcdCalls(name)).watch).toBe(before.watch + 1);
    await docker(['exec', `rig-${name}.a`, '/.rig/bin/rig-fact', 'set', 'role', 'standby']);
    const woke = await waiter;
    expect(woke.stdout.trim()).toBe('standby');
  });
});

describe('dependencies and failures', () => {
  it('rejects a cycle in needs before any container exists, naming it', async () => {
    const name = uniqueName('cycle');
    const fixture = fixtureDir(
      base(name, '  a.village.test:\n    needs: [b]\n  b.village.test:\n    needs: [c.ready_flag]\n  c.village.test:\n    needs: [a]\n'),
    );
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(2);
      expect(up.stderr).toMatch(
        /rig\.yaml:9:5: nodes\["a\.village\.test"\]\.needs: dependency cycle: a\.village\.test -> b\.village\.test -> c\.village\.test -> a\.village\.test/,
      );
      expect(await leftovers(name)).toEqual([]);
      const graph = await rig(['graph', 'rig.yaml', '--format', 'mermaid'], { cwd: fixture.dir });
      expect(graph.exitCode).toBe(2);
    } finally {
      fixture.cleanup();
    }
  });

  it('fails a node whose wait times out, naming the key, the node expected to publish it and its stage', async () => {
    const name = uniqueName('timeout');
    const fixture = fixtureDir(base(name, '  a.village.test:\n  b.village.test:\n    needs: [a.never_published]\n'));
    try {
      const up = await rig(['up', 'rig.yaml', '--timeout', '4s'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(4);
      expect(up.stderr).toContain(
        `timed out after 4 s waiting for /rig/${name}/nodes/a.village.test/facts/never_published, which a.village.test should publish (its stage: ready)`,
      );
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it('marks a node failed when a step fails, shows its last lines, and exits non-zero', async () => {
    const name = uniqueName('stepfail');
    const fixture = fixtureDir(
      base(
        name,
        '  a.village.test:\n    provision:\n      - shell: echo fine\n      - shell: |\n          echo "the disk is full" >&2\n          exit 3\n',
      ),
    );
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(1);
      expect(up.stderr).toContain('a.village.test failed: step 2/2 (shell) exited 3');
      expect(up.stderr).toContain('the disk is full');
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it('follows a rig coming up live with rig status --watch, and stops when the rig goes', async () => {
    const name = uniqueName('watch');
    const fixture = fixtureDir(base(name, '  a.village.test:\n    provision:\n      - shell: sleep 4\n'));
    try {
      const up = execa('node', [rigBin, 'up', 'rig.yaml'], { cwd: fixture.dir, env: { CI: 'true' }, reject: false, all: true });
      let seen = '';
      await new Promise<void>((resolve) =>
        up.all!.on('data', (chunk: Buffer) => (seen += chunk.toString()).includes('provisioning 1/1') && resolve()),
      );
      const watch = execa('node', [rigBin, 'status', '--watch', '--json', '--name', name], { reject: false });
      expect((await up).exitCode).toBe(0);
      await rig(['down', '--name', name]);
      const result = await watch;
      expect(result.exitCode).toBe(0);
      const events = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(events).toContainEqual(expect.objectContaining({ rig: name, fqdn: 'a.village.test', stage: 'ready' }));
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });
});
