// Fact waiters for the fact latency benchmark (facts.ts): child processes that print a line when a fact arrives.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { NODE } from './process.js';

type Child = Pick<ChildProcess, 'stdout' | 'stderr' | 'stdin' | 'kill'> & PromiseLike<{ exitCode?: number; signal?: string }>;

export interface Waiter {
  /** resolves once the waiter watches (host waiter only) */
  ready: Promise<void>;
  /** the monotonic clock (ns) when publish `id` woke the waiter */
  next(id: string): Promise<bigint>;
  stop(): Promise<void>;
}

interface Pending {
  resolve(v: bigint): void;
  reject(e: Error): void;
}

/** Lines "<value> <ns>" or "<index> ..." from a waiter child, matched to the publishes waiting for them. */
function lineWaiter(child: Child, stampOf: (rest: string, arrived: bigint) => bigint, readyLine: string | null): Waiter {
  const pending = new Map<string, Pending>();
  let readyResolve: () => void = () => {};
  let readyReject: (err: Error) => void = () => {};
  const ready = new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej)));
  ready.catch(() => {});
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const arrived = process.hrtime.bigint();
    if (line === readyLine) return readyResolve();
    const [id, rest] = line.split(' ');
    pending.get(id)?.resolve(stampOf(rest, arrived));
    pending.delete(id);
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  let stopping = false;
  void child.then((r) => {
    if (stopping) return;
    const err = new Error(`the fact waiter exited (${r.exitCode ?? r.signal}): ${stderr.trim()}`);
    readyReject(err);
    for (const p of pending.values()) p.reject(err);
  });
  return {
    ready,
    next(id) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the waiter did not wake for publish ${id} within 10 s`)), 10_000);
        pending.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) });
      });
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await child;
      clearTimeout(timer);
    },
  };
}

/** bench/fact-waiter.ts (compiled next to this module) on the host: an etcd watch on `key` (rig's own client). */
export function startHostWaiter(etcd: string, key: string, rootPassword: string, socket: string): Waiter {
  const script = fileURLToPath(new URL('fact-waiter.js', import.meta.url));
  const child = execa(NODE, [script, etcd, key], {
    detached: true,
    reject: false,
    stdin: 'pipe',
    buffer: false,
    env: { RIG_ETCD_ROOT_PASSWORD: rootPassword, RIG_ETCD_SOCKET: socket },
  });
  return lineWaiter(child, (ns) => BigInt(ns), 'watching');
}

/**
 * In a node: wait for facts <prefix>0, <prefix>1, ... of `node` in turn; rig-fact prints each value ("v<i>") as
 * it arrives. Not `v=$(rig-fact wait ...)`: that form returns only at the timeout (the watch's timer inherits the
 * command substitution's pipe; see bench/README.md).
 */
export function startNodeWaiter(container: string, node: string, prefix: string): Waiter {
  const loop = `i=0; while /.rig/bin/rig-fact wait --timeout 30 ${node} ${prefix}$i; do i=$((i + 1)); done`;
  const child = execa('docker', ['exec', '-i', container, '/.rig/bin/sh', '-c', loop], {
    detached: true,
    reject: false,
    stdin: 'pipe',
    buffer: false,
  });
  const w = lineWaiter(child, (_, arrived) => arrived, null);
  const stop = w.stop;
  // The loop ends with the container (rig down); ending the exec's stdin does not reach it.
  w.stop = async () => {
    setTimeout(() => child.kill('SIGTERM'), 0);
    await stop();
  };
  return w;
}
