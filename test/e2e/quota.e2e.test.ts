import { beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { NODE_ETCD_LIMITS as LIMITS } from '../../src/plan/sidecar.js';
import { docker, rig, useRig } from './helpers.js';

// Issue 20: a node's writes to the rig's etcd stay within its own quotas (rig-etcd-proxy in the sidecar), from a
// Docker node and from an LXC node, while a peer's go on; nodes may not compact etcd nor take leases but their one
// (test/e2e/liveness.e2e.test.ts tries the rest of the lease rules).

/** A shell script run inside a node with rig-fact's helpers loaded (login, etcd PATH BODY as the node, put_all). */
const inNode = (name: string, node: string, script: string) =>
  rig(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=/.rig/bin:$PATH; . /.rig/bin/rig-fact --library; ${script}`]);

/** A value of `size` bytes with a tab in it: rig-fact sends it base64 by busybox's base64 (fast), not by awk. */
const bigValue = (size: number) => `"$(printf 'x\\t'; head -c ${size - 2} /dev/zero | tr '\\0' y)"`;

/** The sidecar's state directory on the host's tmpfs: its size in bytes, as du counts the blocks in use. */
async function stateBytes(name: string): Promise<number> {
  const id = (await docker(['ps', '-q', '--filter', `label=io.rig.rig=${name}`, '--filter', 'label=io.rig.role=sidecar'])).trim();
  const state = await docker(['inspect', '-f', '{{index .Config.Labels "io.rig.state"}}', id]);
  return Number((await execa('du', ['-s', '-B1', state])).stdout.split('\t')[0]);
}

describe("a node stays within its quotas on the rig's etcd", () => {
  const r = useRig(
    'quota',
    (name) => `name: ${name}
domain: q.test
network: { internal: true }
configs: []
nodes:
  peer.q.test:
  dock.q.test:
  lxc.q.test:
    backend: lxc
`,
  );

  let stateBefore = 0;
  beforeAll(async () => {
    stateBefore = await stateBytes(r.name);
  });

  describe.each(['dock', 'lxc'])('from inside %s', (node) => {
    const fqdn = `${node}.q.test`;

    it('refuses a value over the size limit with rig-fact saying by how much, and stores nothing', async () => {
      const size = LIMITS.maxValue + 100;
      const set = await inNode(r.name, node, `rig-fact set big ${bigValue(size)}`);
      expect(set.exitCode, set.all).not.toBe(0);
      expect(set.stderr).toContain(
        `rig-fact: the rig's etcd refused the write: the value of /rig/${r.name}/nodes/${fqdn}/facts/big is ${size} bytes, ` +
          `100 over the ${LIMITS.maxValue}-byte limit on a value`,
      );
      expect((await rig(['facts', node, 'big', '--name', r.name])).exitCode).not.toBe(0);
      // Just under the limit is a fact like any other.
      const under = await inNode(r.name, node, `rig-fact set big ${bigValue(LIMITS.maxValue)}`);
      expect(under.exitCode, under.all).toBe(0);
      expect((await rig(['facts', node, 'big', '--name', r.name])).stdout.length).toBe(LIMITS.maxValue);
    });

    it("refuses keys past the limit on a node's keys, and still takes writes to keys it has", async () => {
      // put_all with `count` new keys from `from` on, in transactions of 100 (etcd takes at most 128 operations in one).
      const putKeys = (from: number, count: number) =>
        inNode(
          r.name,
          node,
          `i=${from}; while [ $i -lt ${from + count} ]; do awk -v i=$i -v end=${from + count} 'BEGIN { for (j = i; j < i + 100 && j < end; j++) printf "fact\\tk%d\\tv\\n", j }' | put_all || exit 1; i=$((i+100)); done`,
        );
      const fill = await putKeys(0, 800);
      expect(fill.exitCode, fill.all).toBe(1);
      const refused = new RegExp(
        `rig-fact: the rig's etcd refused the write: ${fqdn} has (\\d+) keys; this write would add 100, (\\d+) over the limit of ${LIMITS.maxKeys} keys a node may have`,
      ).exec(fill.stderr);
      expect(refused, fill.stderr).not.toBeNull();
      const had = Number(refused![1]);
      expect(Number(refused![2])).toBe(had + 100 - LIMITS.maxKeys);
      const keys = async () => Object.keys(JSON.parse((await rig(['facts', node, '--name', r.name, '--json'])).stdout)).length + 2; // and its stage and alive key
      expect(await keys()).toBe(had);

      const toTheLimit = await putKeys(had, LIMITS.maxKeys - had); // new names: k<had>... were never written
      expect(toTheLimit.exitCode, toTheLimit.all).toBe(0);
      expect(await keys()).toBe(LIMITS.maxKeys);
      const more = await inNode(r.name, node, 'rig-fact set one_more v');
      expect(more.exitCode).not.toBe(0);
      expect(more.stderr).toContain(`${fqdn} has ${LIMITS.maxKeys} keys; this write would add 1, 1 over the limit`);
      const again = await inNode(r.name, node, `rig-fact set k0 again && rig-fact get ${node} k0`);
      expect(again.exitCode, again.all).toBe(0);
      expect(again.stdout.trim()).toBe('again');
      // A node may delete its own keys, and has room again (the flood below needs it).
      const facts = (end: string) => `$(b64 /rig/$RIG_NAME/nodes/$RIG_NODE/facts/${end})`;
      const cleared = await inNode(
        r.name,
        node,
        `login && etcd /v3/kv/deleterange "{\\"key\\":\\"${facts('k')}\\",\\"range_end\\":\\"${facts('l')}\\"}"`,
      );
      expect(cleared.exitCode, cleared.all).toBe(0);
      expect(await keys()).toBeLessThan(100);
    });

    it('may not compact etcd nor take a lease of its own choosing (its agent holds its one lease)', async () => {
      const call = (path: string, body: string) => inNode(r.name, node, `login && etcd ${path} '${body}'`);
      const compaction = await call('/v3/kv/compaction', '{"revision":"2"}');
      expect(compaction.exitCode).not.toBe(0);
      expect(compaction.stderr).toContain("403 rig: nodes may not compact the rig's etcd");
      const long = await call('/v3/lease/grant', '{"TTL":"600"}');
      expect(long.exitCode).not.toBe(0);
      expect(long.stderr).toContain("400 rig: a lease's TTL is 2 to 60 s, not 600");
      const second = await call('/v3/lease/grant', '{"TTL":"30"}');
      expect(second.exitCode, second.all).toBe(0); // it replaces the agent's: one lease a node, whoever asks
      const all = await call('/v3/lease/leases', '{}');
      expect(all.stderr).toContain('403 rig: a node may only grant, keep alive and revoke its own lease, not /v3/lease/leases');
      const status = await call('/v3/maintenance/status', '{}');
      expect(status.exitCode).not.toBe(0);
      expect(status.stderr).toContain('403 rig: /v3/maintenance/status is for the host');
      // The history a node could have compacted is still there: a watch from revision 1 replays the first write.
      const replay = await inNode(
        r.name,
        node,
        `login && timeout 2 wget -q -O - --header 'Content-Type: application/json' --header "Authorization: $token" ` +
          `--post-data "{\\"create_request\\":{\\"key\\":\\"$(b64 /rig/$RIG_NAME/)\\",\\"range_end\\":\\"$(b64 /rig/\${RIG_NAME}0)\\",\\"start_revision\\":\\"1\\"}}" "$RIG_ETCD/v3/watch"`,
      );
      expect(replay.stdout).toContain('"events"');
    });

    it('refuses a watch past the most a node may have open, and a peer still watches', async () => {
      // 16 waits that follow a watch (of a fact never published), then a 17th, tried once a second until the 16 are
      // all open (the node starts them at once, but each logs in and reads first).
      const watches = await inNode(
        r.name,
        node,
        `i=0; while [ $i -lt ${LIMITS.maxWatches} ]; do rig-fact wait --timeout 6 peer never$i >/dev/null 2>&1 & i=$((i+1)); done; ` +
          `n=0; while [ $n -lt 4 ]; do sleep 1; rig-fact wait --timeout 1 peer never 2>/tmp/werr; rc=$?; [ $rc = 2 ] && break; n=$((n+1)); done; ` +
          `echo "exit $rc"; cat /tmp/werr >&2; wait`,
      );
      expect(watches.stdout).toContain('exit 2');
      expect(watches.stderr).toContain(`rig-fact: the rig's etcd refused the watch: `);
      expect(watches.stderr).toMatch(new RegExp(`has ${LIMITS.maxWatches} watches open, the most a node may have`));
      const peer = await inNode(r.name, 'peer', `rig-fact wait --timeout 1 ${node} never`);
      expect(peer.exitCode).toBe(124); // a wait that ran out, not a refusal
    });

    it('refuses a flood of large facts once its write budget is spent, while a peer writes on and its own small writes go on', async () => {
      const value = 60_000;
      const flood = inNode(
        r.name,
        node,
        // Counts what was taken and refused, and shows the first refused write. A login costs too, so with less than a
        // login's cost left the login is refused first; the budget refills meanwhile and the next write is refused.
        `v=${bigValue(value)}; ok=0; no=0; i=0; rm -f /tmp/first; while [ $i -lt 100 ]; do ` +
          `if rig-fact set flood$i "$v" 2>/tmp/err; then ok=$((ok+1)); else no=$((no+1)); ` +
          `[ -s /tmp/first ] || ! grep -q 'refused the write' /tmp/err || cp /tmp/err /tmp/first; fi; i=$((i+1)); done; ` +
          `echo "$ok $no"; cat /tmp/first >&2`,
      );
      const peer = inNode(r.name, 'peer', 'i=0; while [ $i -lt 20 ]; do rig-fact set during$i v || exit 1; i=$((i+1)); done');
      const [flooded, peered] = await Promise.all([flood, peer]);
      expect(peered.exitCode, peered.all).toBe(0);
      const [ok, no] = flooded.stdout.trim().split(' ').map(Number);
      expect(ok + no).toBe(100);
      expect(ok).toBeGreaterThan(0);
      expect(ok * value).toBeLessThanOrEqual(LIMITS.budget);
      expect(flooded.stderr).toMatch(
        new RegExp(
          `^rig-fact: the rig's etcd refused the write: this node \\([0-9.]+\\) is over its write budget: this write costs 60\\d{3} bytes, ` +
            `\\d+ more than the \\d+ left of ${LIMITS.budget} \\(refilled at ${LIMITS.refill} bytes/s: try again in \\d+ s\\)$`,
        ),
      );
      const after = await inNode(r.name, node, 'sleep 1; rig-fact set small yes');
      expect(after.exitCode, after.all).toBe(0);
      expect((await rig(['facts', node, 'small', '--name', r.name])).stdout.trim()).toBe('yes');
    });
  });

  it("keeps the sidecar's state directory bounded: the floods grew it by no more than the nodes' budgets", async () => {
    // Each flooding node tried 100 values of 60 KB (6 MB, 12 MB in all); what etcd took of each is bounded by its
    // budget (and its refill over the test), and etcd's backend (bbolt) keeps it in pages, with some room to spare.
    const grown = (await stateBytes(r.name)) - stateBefore;
    expect(grown, `grew by ${grown} bytes`).toBeLessThan(3 * 2 * LIMITS.budget);
  });
});
