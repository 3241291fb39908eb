// Fact publish -> waiter wake-up, on a 2-node rig.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdClient } from '../dist/facts/etcd.js';
import { execa } from 'execa';
import type { RigStatus } from './contenders.js';
import type { Ctx } from './context.js';
import { rigFile } from './files.js';
import type { Options } from './options.js';
import { checkInterrupted, live, NODE, RIG, rigDown, run } from './process.js';
import { percentile, round, sleep, type Maybe } from './util.js';
import { startHostWaiter, startNodeWaiter, type Waiter } from './waiters.js';

export interface WaiterLatency {
  measured: string;
  p50: Maybe;
  p99: Maybe;
  max: Maybe;
}

export interface FactLatency {
  publishes: number;
  node?: WaiterLatency;
  host?: WaiterLatency;
  putRoundTrip?: { p50: Maybe; p99: Maybe };
}

type Auth = { username: string; password: string; socket: string };

const WARM_UP = 5;

/** The host is the root of a rig's etcd (nodes may write only their own keys): its password is on the sidecar. */
export async function etcdRootAuth(rig: string): Promise<Auth> {
  const sidecar = (
    await execa('docker', ['ps', '-q', '--filter', `label=io.rig.rig=${rig}`, '--filter', 'label=io.rig.role=sidecar'])
  ).stdout.trim();
  const label = (name: string) =>
    execa('docker', ['inspect', '-f', `{{index .Config.Labels "${name}"}}`, sidecar]).then((r) => r.stdout.trim());
  const [password, state] = await Promise.all([label('io.rig.etcd-root'), label('io.rig.state')]);
  // The host's way in, as rig's own commands take it: etcd's Unix socket in the sidecar's state directory.
  return { username: 'root', password, socket: join(state, 'etcd', 'client:2379') };
}

const ms = (from: bigint, to: bigint): number => Number(to - from) / 1e6;
const latency = (measured: string, values: number[]): WaiterLatency => ({
  measured,
  p50: round(percentile(values, 50), 2),
  p99: round(percentile(values, 99), 2),
  max: round(Math.max(...values), 2),
});

/** Puts fact bench_w<i> of n1, one at a time, each 200 ms after the waiter in n2 woke for the one before. */
async function toNode(client: EtcdClient, waiter: Waiter, factKey: (fact: string) => string, publishes: number): Promise<number[]> {
  const nodeMs: number[] = [];
  for (let i = 0; i < WARM_UP + publishes; i++) {
    checkInterrupted();
    const seen = waiter.next(`v${i}`);
    const before = process.hrtime.bigint();
    await client.put(factKey(`bench_w${i}`), `v${i}`);
    const woke = await seen;
    if (i >= WARM_UP) nodeMs.push(ms(before, woke));
    await sleep(200);
  }
  return nodeMs;
}

/** Puts one key over and over, each once the host waiter saw the one before: put round trips and wake-ups. */
async function toHost(client: EtcdClient, waiter: Waiter, key: string, publishes: number): Promise<{ putMs: number[]; hostMs: number[] }> {
  const putMs: number[] = [];
  const hostMs: number[] = [];
  for (let i = 0; i < WARM_UP + publishes; i++) {
    checkInterrupted();
    const value = `${i}`;
    const seen = waiter.next(value);
    const before = process.hrtime.bigint();
    await client.put(key, value);
    const afterPut = process.hrtime.bigint();
    const woke = await seen;
    if (i >= WARM_UP) {
      putMs.push(ms(before, afterPut));
      hostMs.push(ms(before, woke));
    }
  }
  return { putMs, hostMs };
}

/**
 * Fact publish -> waiter wake-up, on a 2-node rig. The bench publishes from the host with rig's own etcd client (the
 * same write a node's `rig-fact set` makes: one key on the rig's etcd), one publish at a time, reading the monotonic
 * clock right before each put. Two waiters:
 *  - node: inside node n2, `rig-fact wait n1 bench_w<i>` in a loop (busybox wget on etcd's watch gateway), started
 *    once by `docker exec`; it wakes when the fact is written. Latency = when its line reaches the bench through
 *    the exec's stdout - before the put: an upper bound, the exec's relay included. Each put waits 200 ms after the
 *    waiter's last line, so the waiter is back in its watch when the fact arrives.
 *  - host: bench/fact-waiter.ts, a separate process on the host with rig's etcd watch; it stamps the event with
 *    the monotonic clock (one clock for every process): etcd's own put -> watch latency, as the floor.
 */
export async function factLatency(options: Options, ctx: Ctx): Promise<FactLatency> {
  const name = `${ctx.prefix}f`;
  const file = join(ctx.tmp, `${name}.yaml`);
  writeFileSync(file, rigFile(name, 2));
  live.set(name, () => rigDown(name));
  let client: EtcdClient | undefined;
  let waiter: Waiter | undefined;
  try {
    const up = await run(NODE, [RIG, 'up', file, '--json']);
    const [status] = JSON.parse(up.stdout) as RigStatus[];
    const factKey = (fact: string) => `/rig/${name}/nodes/n1.bench.test/facts/${fact}`;
    const auth = await etcdRootAuth(name);
    client = new EtcdClient(status.etcd, { name: 'root', password: auth.password }, auth.socket);
    const result: FactLatency = { publishes: options.publishes };

    // In a node: rig-fact wait, the way a node waits for a peer's fact.
    waiter = startNodeWaiter(`rig-${name}.n2`, 'n1', 'bench_w');
    await sleep(1000); // docker exec starts, and the first wait reaches its watch
    const nodeMs = await toNode(client, waiter, factKey, options.publishes);
    await waiter.stop();
    result.node = latency(
      'inside node n2: `rig-fact wait n1 bench_w<i>` (busybox wget, etcd watch gateway), woken by a put from the host; stamped when its output line reaches the bench through docker exec',
      nodeMs,
    );

    // On the host: rig's etcd watch in another process; etcd's own latency.
    const key = factKey('bench_n');
    waiter = startHostWaiter(status.etcd, key, auth.password, auth.socket);
    await waiter.ready;
    const { putMs, hostMs } = await toHost(client, waiter, key, options.publishes);
    result.host = latency(
      "on the host: an etcd watch (rig's client) in a separate process (bench/fact-waiter.ts), stamped in its event handler",
      hostMs,
    );
    result.putRoundTrip = { p50: round(percentile(putMs, 50), 2), p99: round(percentile(putMs, 99), 2) };
    return result;
  } finally {
    client?.close();
    await waiter?.stop();
    await rigDown(name);
    live.delete(name);
  }
}
