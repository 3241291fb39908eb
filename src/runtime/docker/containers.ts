import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { Label } from '../../labels.js';
import { isConflict, isNotFound } from './connect.js';

/**
 * Resolve once the container has printed lines matching every one of `patterns` (the logs are followed, not
 * polled). Rejects with the log's tail if the container exits first or `timeoutMs` passes.
 */
export async function waitForLog(docker: Docker, id: string, patterns: RegExp[], timeoutMs: number): Promise<void> {
  await (
    await watchLog(docker, id, patterns, timeoutMs)
  )();
}

/**
 * Follow a container's log (from now on if `newOnly`) and look for `patterns` in it, as waitForLog does. Resolves
 * once the log is followed, to the wait for the match: what the container prints after that is not missed.
 */
export async function watchLog(
  docker: Docker,
  id: string,
  patterns: RegExp[],
  timeoutMs: number,
  { newOnly = false } = {},
): Promise<() => Promise<void>> {
  const container = docker.getContainer(id);
  const raw = (await container.logs({
    follow: true,
    stdout: true,
    stderr: true,
    ...(newOnly ? { tail: 0 } : {}),
  })) as NodeJS.ReadableStream & {
    destroy(): void;
  };
  const text = new PassThrough();
  docker.modem.demuxStream(raw, text, text);
  let seen = '';
  const matched = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs / 1000} s; its log ends:\n${tail(seen)}`)), timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    text.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (patterns.every((p) => p.test(seen))) done();
    });
    raw.on('end', () => done(new Error(`exited before it was ready; its log ends:\n${tail(seen)}`)));
    raw.on('error', (err: Error) => done(err));
  }).finally(() => raw.destroy());
  matched.catch(() => {}); // whoever waits for it handles the failure
  return () => matched;
}

export const tail = (text: string, lines = 8) => text.trimEnd().split('\n').slice(-lines).join('\n');

export async function containerLog(docker: Docker, id: string, lines = 200): Promise<string> {
  return demuxed((await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as Buffer);
}

function demuxed(buf: Buffer): string {
  const out: Buffer[] = [];
  // Multiplexed frames: 8-byte header (stream, 0, 0, 0, size as big-endian u32), then the payload.
  for (let i = 0; i + 8 <= buf.length;) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out).toString();
}

export interface RigContainer {
  id: string;
  name: string;
  role: string;
  node?: string;
  state: string; // running, exited, created...
  labels: Record<string, string>;
}

export async function findRigContainers(docker: Docker, rig?: string): Promise<RigContainer[]> {
  const filter = rig ? `${Label.rig}=${rig}` : Label.rig;
  const list = await docker.listContainers({ all: true, filters: { label: [filter] } });
  return list.map((c) => ({
    id: c.Id,
    name: c.Names[0]?.replace(/^\//, '') ?? c.Id,
    role: c.Labels[Label.role] ?? '',
    node: c.Labels[Label.node],
    state: c.State,
    labels: c.Labels,
  }));
}

/** Remove a container and its anonymous volumes; a container already gone, or going, counts as removed. */
export async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (err) {
    if (isNotFound(err)) return;
    if (!isConflict(err)) throw err; // with force, a conflict is a removal already in progress
    // Someone else (a reaper, a Ctrl-C) is removing it: done once it is gone, so its network can go next.
    await docker
      .getContainer(id)
      .wait({ condition: 'removed' })
      .catch(() => {});
  }
}

/** A container's log as lines (stdout and stderr together, as Docker keeps it), followed if asked, until `signal`. */
export async function streamContainerLog(
  docker: Docker,
  id: string,
  options: { follow: boolean; tail?: number; since?: number; timestamps: boolean },
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const query = {
    stdout: true,
    stderr: true,
    timestamps: options.timestamps,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(options.since !== undefined ? { since: options.since } : {}),
  };
  if (!options.follow) {
    const buf = (await docker.getContainer(id).logs({ ...query, follow: false })) as Buffer;
    const text = demuxed(buf);
    if (text) text.replace(/\n$/, '').split('\n').forEach(onLine);
    return;
  }
  const raw = (await docker.getContainer(id).logs({ ...query, follow: true })) as NodeJS.ReadableStream & { destroy(): void };
  const text = new PassThrough();
  docker.modem.demuxStream(raw, text, text);
  const { createInterface } = await import('node:readline');
  createInterface({ input: text, crlfDelay: Infinity }).on('line', onLine);
  await new Promise<void>((resolve) => {
    const stop = () => {
      raw.destroy();
      resolve();
    };
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    raw.on('end', () => setImmediate(resolve)); // the container stopped
    raw.on('error', () => resolve());
  });
}
