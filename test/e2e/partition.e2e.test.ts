import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { eventually, rig, useRig } from './helpers.js';

// Partitions and link impairments, measured from inside the nodes: a (Docker), b (LXC), c (Docker).

const sh = (name: string, node: string, script: string) =>
  rig(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=/.rig/bin:$PATH; ${script}`], { timeoutMs: 120_000 });

const answers = async (name: string, from: string, to: string) => (await sh(name, from, `ping -c 1 -W 2 ${to}`)).exitCode === 0;
/** Whether `from` reaches `to` again within 15 s of a heal (its ARP for `to` may have failed during the cut). */
const backWithin = (name: string, from: string, to: string) => eventually(() => answers(name, from, to), 15_000, 500);

/** How many of `count` pings from `from` to `to` got no answer. */
async function lost(name: string, from: string, to: string, count: number): Promise<number> {
  const ping = await sh(name, from, `ping -q -c ${count} -i 0.02 -W 1 ${to}`);
  const received = /(\d+) packets received/.exec(ping.stdout);
  expect(received, ping.all).not.toBeNull();
  return count - Number(received![1]);
}

/** Whether this kernel has the netem qdisc (what rig doctor checks). */
async function kernelHasNetem(): Promise<boolean> {
  const doctor = await rig(['doctor', '--json']);
  const checks = JSON.parse(doctor.stdout) as Array<{ name: string; ok: boolean }>;
  const netem = checks.find((c) => /netem/i.test(c.name));
  expect(netem, doctor.stdout).toBeDefined();
  return netem!.ok;
}

describe('partitions and link impairments', () => {
  const { name } = useRig(
    'partition',
    (n) => `
name: ${n}
domain: part.test
network: { internal: true }
configs: []
nodes:
  a.part.test:
  b.part.test:
    backend: lxc
  c.part.test:
`,
  );

  it('partition a b cuts a and b apart both ways; each still reaches etcd on the sidecar, and c reaches both', async () => {
    expect(await answers(name, 'a', 'b')).toBe(true);
    const cut = await rig(['partition', 'a', 'b', '--name', name]);
    expect(cut.exitCode, cut.all).toBe(0);
    expect(await answers(name, 'a', 'b')).toBe(false);
    expect(await answers(name, 'b', 'a')).toBe(false);
    expect(await answers(name, 'c', 'b')).toBe(true);
    expect(await answers(name, 'c', 'a')).toBe(true);
    for (const node of ['a', 'b']) {
      const fact = await sh(name, node, 'rig-fact get c ipaddress');
      expect(fact.exitCode, fact.all).toBe(0);
    }
  });

  it('heal restores the traffic, and removes the rules', async () => {
    const heal = await rig(['heal', '--name', name]);
    expect(heal.exitCode, heal.all).toBe(0);
    expect(await backWithin(name, 'a', 'b')).toBe(true);
    expect(await backWithin(name, 'b', 'a')).toBe(true);
    expect((await execa('nft', ['list', 'tables', 'bridge'])).stdout).not.toMatch(new RegExp(`rig\\.${name}\\.[0-9a-f]{12}\\.drills`));
  });

  it('heal A B lifts only the cut between those nodes', async () => {
    expect((await rig(['partition', 'a', 'b', 'c', '--name', name])).exitCode).toBe(0);
    expect(await answers(name, 'a', 'c')).toBe(false);
    expect((await rig(['heal', 'a', 'c', '--name', name])).exitCode).toBe(0);
    // A node whose ARP for a peer failed during the cut asks again on its kernel's own schedule, as after a real
    // partition: traffic comes back within a few seconds of the heal, not at once.
    expect(await backWithin(name, 'a', 'c')).toBe(true);
    expect(await answers(name, 'a', 'b')).toBe(false);
    expect(await answers(name, 'b', 'c')).toBe(false);
    expect((await rig(['heal', '--name', name])).exitCode).toBe(0);
    expect(await backWithin(name, 'b', 'c')).toBe(true);
  });

  for (const node of ['a', 'b']) {
    it(`netem ${node} --loss 50% loses a share of its traffic; --clear restores it`, async () => {
      const set = await rig(['netem', node, '--loss', '50%', '--name', name]);
      expect(set.exitCode, set.all).toBe(0);
      const share = await lost(name, 'c', node, 100);
      expect(share).toBeGreaterThan(10);
      expect(share).toBeLessThan(90);
      const clear = await rig(['netem', node, '--clear', '--name', name]);
      expect(clear.exitCode, clear.all).toBe(0);
      expect(await lost(name, 'c', node, 30)).toBe(0);
    });
  }

  it('netem --delay: a longer round trip where the kernel has netem, else a clear refusal', async () => {
    const delay = await rig(['netem', 'a', '--delay', '200ms', '--name', name]);
    if (await kernelHasNetem()) {
      expect(delay.exitCode, delay.all).toBe(0);
      const ping = await sh(name, 'c', 'ping -c 3 a');
      const avg = Number(/= [\d.]+\/([\d.]+)\//.exec(ping.stdout)?.[1]);
      expect(avg, ping.all).toBeGreaterThanOrEqual(200);
      expect((await rig(['netem', 'a', '--clear', '--name', name])).exitCode).toBe(0);
    } else {
      expect(delay.exitCode, delay.all).toBe(3);
      expect(delay.stderr).toMatch(/netem/);
      expect(delay.stderr).toMatch(/--loss works without it/);
    }
  });

  it('refuses bad values before doing anything: --delay abc, --loss 150%, no impairment', async () => {
    for (const args of [['--delay', 'abc'], ['--loss', '150%'], ['--loss', 'x'], []]) {
      const result = await rig(['netem', 'a', ...args, '--name', name]);
      expect(result.exitCode, `${args.join(' ')}: ${result.all}`).toBe(2);
    }
    expect(await lost(name, 'c', 'a', 10)).toBe(0);
  });

  it('records each drill as an event in etcd, which nodes can read', async () => {
    const range = `login && etcd /v3/kv/range "{\\"key\\":\\"$(b64 /rig/$RIG_NAME/events/)\\",\\"range_end\\":\\"$(b64 /rig/$RIG_NAME/events0)\\"}"`;
    const read = await sh(name, 'c', `. /.rig/bin/rig-fact --library; ${range}`);
    expect(read.exitCode, read.all).toBe(0);
    const events = ((JSON.parse(read.stdout) as { kvs?: Array<{ value: string }> }).kvs ?? []).map(
      (kv) => JSON.parse(Buffer.from(kv.value, 'base64').toString()) as { kind: string; nodes?: string[]; detail?: string },
    );
    expect(events.map((e) => e.kind)).toEqual(['partition', 'heal', 'partition', 'heal', 'heal', 'netem', 'netem', 'netem', 'netem']);
    expect(events[0].nodes).toEqual(['a.part.test', 'b.part.test']);
    expect(events[5].detail).toBe('loss 50%');
  });

  it('keeps its rules in a table of the rig, which down removes', async () => {
    expect((await rig(['partition', 'a', 'c', '--name', name])).exitCode).toBe(0);
    const tables = (await execa('nft', ['list', 'tables', 'bridge'])).stdout;
    expect(tables).toMatch(new RegExp(`rig\\.${name}\\.[0-9a-f]{12}\\.drills`));
    // useRig's down then checks that nothing of the rig is left, this table included.
  });
});
