import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import { Label } from '../../labels.js';

/**
 * Call `onLine` with each line of a Docker event stream (one JSON object a line). Chunks do not follow lines: an
 * event can arrive split across two, so the stream is read as lines, never chunk by chunk. `onEnd`, once, when the
 * stream ends, is closed, or is cut (the engine went away): a cut stream is an end, never an uncaught error.
 */
export function lineStream(stream: NodeJS.ReadableStream, onLine: (line: string) => void, onEnd: () => void = () => {}): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim()) onLine(line);
  });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  lines.on('error', end); // readline passes on the stream's error: ECONNRESET when dockerd stops
  stream.on('end', end);
  stream.on('close', end);
}

/** Call `onDeath` with the node's name whenever a container of the rig dies; resolves, once listening, to a stop. */
export async function watchDeaths(docker: Docker, rig: string, onDeath: (node: string) => void): Promise<() => void> {
  const events = await docker.getEvents({ filters: { label: [`${Label.rig}=${rig}`], event: ['die'], type: ['container'] } });
  lineStream(events, (line) => {
    const node = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.[Label.node];
    if (node) onDeath(node);
  });
  return () => (events as unknown as { destroy(): void }).destroy();
}

/** Call `onEvent` whenever a rig's sidecar starts or dies; resolves, once listening, to a stop. */
export async function watchSidecars(
  docker: Docker,
  onEvent: (event: { rig: string; id: string; action: 'start' | 'die' }) => void,
): Promise<() => void> {
  const events = await docker.getEvents({ filters: { type: ['container'], event: ['die', 'start'], label: [`${Label.role}=sidecar`] } });
  lineStream(events, (line) => {
    const event = JSON.parse(line) as {
      status?: string;
      Action?: string;
      id?: string;
      Actor?: { ID?: string; Attributes?: Record<string, string> };
    };
    const action = event.Action ?? event.status;
    if (action !== 'start' && action !== 'die') return;
    onEvent({ rig: event.Actor?.Attributes?.[Label.rig] ?? '', id: event.Actor?.ID ?? event.id ?? '', action });
  });
  return () => (events as unknown as { destroy(): void }).destroy();
}
