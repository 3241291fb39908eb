import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';
import { Label } from '../../labels.js';
import { LineSplitter, LOG_FILE_MB, type LineSink } from '../backend.js';
import { isConflict, isNotFound } from './connect.js';
import { pacedRemoval, type PaceOptions } from '../pacing.js';
import type { RigContainer } from '../runtime.js';
import { waitForLines } from '../log-wait.js';

/**
 * Resolve once the container has printed lines matching every one of `patterns` (the logs are followed, not
 * polled). Rejects with the log's tail if the container exits first or `timeoutMs` passes.
 */
export async function waitForLog(
  docker: Docker,
  id: string,
  patterns: RegExp[],
  timeoutMs: number,
  options: { since?: number } = {},
): Promise<void> {
  await (
    await watchLog(docker, id, patterns, timeoutMs, options)
  )();
}

/**
 * Follow a container's log (from now on if `newOnly`) and test each line as it comes against the patterns not yet
 * seen, as waitForLog does; only the last few lines are kept, for an error. Resolves once the log is followed, to
 * the wait for the match: what the container prints after that is not missed.
 */
export async function watchLog(
  docker: Docker,
  id: string,
  patterns: RegExp[],
  timeoutMs: number,
  { newOnly = false, since }: { newOnly?: boolean; since?: number } = {},
): Promise<() => Promise<void>> {
  if (!patterns.length) return () => Promise.resolve();
  const stop = new AbortController();
  const raw = (await openLog(docker, id, { follow: true, timestamps: false, ...(newOnly ? { tail: 0 } : {}), since }, stop.signal))!;
  const unseen = new Set(patterns);
  const matched = waitForLines(
    (onLine) => readFrames(raw, new LineSplitter(onLine)),
    (line) => {
      for (const pattern of unseen) if (pattern.test(line)) unseen.delete(pattern);
      return !unseen.size;
    },
    {
      timeoutMs,
      ended: 'exited',
      release: () => {
        stop.abort(); // matched, failed or timed out: the log is no longer followed
        raw.destroy();
      },
    },
  );
  return () => matched;
}

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

/** Remove a container and its anonymous volumes (paced); a container already gone, or going, counts as removed. */
export async function removeContainer(docker: Docker, id: string, pace?: PaceOptions): Promise<void> {
  try {
    await pacedRemoval(() => docker.getContainer(id).remove({ force: true, v: true }), pace);
  } catch (err) {
    if (isNotFound(err)) return;
    if (!isConflict(err)) throw err; // with force, a conflict is a removal already in progress
    // Someone else (a reaper, a Ctrl-C) is removing it: done once it is gone, so its network can go next.
    await docker
      .getContainer(id)
      .wait({ condition: 'removed' })
      .catch(() => {}); // gone before the wait began: removed all the same
  }
}

/**
 * How Docker keeps a rig container's log: its json-file, rotated at LOG_FILE_MB, with the file before kept (at most
 * twice that on disk, however much the container prints; `rig logs` and `docker logs` read both). Nodes and sidecar.
 */
export const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': `${LOG_FILE_MB}m`, 'max-file': '2' } };

/**
 * A container's log as lines (stdout and stderr together, as Docker keeps it), followed if asked, until `signal`.
 * Docker's answer is read as a stream, no faster than `onLine` takes the lines: never the whole log at once.
 */
export async function streamContainerLog(
  docker: Docker,
  id: string,
  options: { follow: boolean; tail?: number; since?: number; timestamps: boolean },
  onLine: LineSink,
  signal: AbortSignal,
): Promise<void> {
  const raw = await openLog(docker, id, options, signal);
  if (!raw) return;
  try {
    await readFrames(raw, new LineSplitter(onLine));
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    raw.destroy();
  }
}

/** A container's log as Docker sends it (multiplexed frames), as a stream; undefined if `signal` ended it first. */
async function openLog(
  docker: Docker,
  id: string,
  options: { follow: boolean; tail?: number; since?: number; timestamps: boolean },
  signal: AbortSignal,
): Promise<IncomingMessage | undefined> {
  const query = {
    stdout: true,
    stderr: true,
    follow: options.follow,
    timestamps: options.timestamps,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(options.since !== undefined ? { since: options.since } : {}), // seconds: what a container printed since it was started again
  };
  if (signal.aborted) return undefined;
  try {
    return await new Promise<IncomingMessage>((resolve, reject) =>
      docker.modem.dial(
        {
          path: `/containers/${id}/logs?`,
          method: 'GET',
          isStream: true, // dockerode's own logs() reads all of it into one buffer unless it follows
          abortSignal: signal,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          options: query,
        },
        (err, stream) => (err ? reject(err) : resolve(stream as IncomingMessage)),
      ),
    );
  } catch (err) {
    if (signal.aborted) return undefined;
    throw err;
  }
}

/** Docker's multiplexed frames (8-byte header: stream, 0, 0, 0, size as big-endian u32; then the payload), as lines. */
async function readFrames(raw: AsyncIterable<Buffer>, lines: LineSplitter): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of raw) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const payloads: Buffer[] = [];
    let at = 0;
    while (pending.length - at >= 8) {
      const size = pending.readUInt32BE(at + 4);
      if (pending.length - at - 8 < size) break;
      payloads.push(pending.subarray(at + 8, at + 8 + size));
      at += 8 + size;
    }
    pending = pending.subarray(at);
    if (payloads.length) await lines.push(payloads.length === 1 ? payloads[0] : Buffer.concat(payloads));
  }
  await lines.end();
}
