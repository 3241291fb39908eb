import type { LxdClient } from './api.js';
import { LxdWebSocket } from './websocket.js';

/**
 * LXD's events stream (GET /1.0/events, a websocket): what rig follows instead of Docker's events, e.g. an
 * instance's `instance-started` / `instance-stopped` lifecycle events for restarts and the reaper.
 */

export type EventType = 'lifecycle' | 'operation' | 'logging';

export interface LxdEvent {
  type: EventType;
  timestamp: string;
  location?: string; // the member it happened on
  project?: string;
  metadata: {
    action?: string; // lifecycle: instance-created, instance-started, instance-stopped, instance-deleted, network-created...
    source?: string; // lifecycle: what it is about, e.g. /1.0/instances/c1
    context?: Record<string, unknown>;
    [key: string]: unknown;
  };
}

export interface EventStream {
  /** Stop following. */
  stop(): void;
  /** Resolves when the stream ends: stopped (undefined), or LXD went away or broke it (the error). */
  ended: Promise<Error | undefined>;
}

/**
 * Follow events of `types`; resolves once LXD listens (events after that are not missed). A message that is not an
 * event (not JSON) ends the stream with an error: LXD is not what rig talks to.
 */
export async function followEvents(
  client: LxdClient,
  types: EventType[],
  onEvent: (event: LxdEvent) => void,
  options: { allProjects?: boolean; timeoutMs?: number } = {},
): Promise<EventStream> {
  let ended!: (err: Error | undefined) => void;
  const done = new Promise<Error | undefined>((resolve) => (ended = resolve));
  const query = `type=${types.join(',')}${options.allProjects ? '&all-projects=true' : ''}`;
  const ws: LxdWebSocket = await LxdWebSocket.connect(
    client.transport,
    `/1.0/events?${query}`,
    {
      onMessage: (data) => {
        let event: LxdEvent;
        try {
          event = JSON.parse(data.toString('utf8')) as LxdEvent;
        } catch {
          ended(new Error(`LXD's events stream sent what is not an event: ${data.toString('utf8').slice(0, 100)}`));
          ws.close();
          return;
        }
        onEvent(event);
      },
      onClose: (err) => ended(err),
    },
    options.timeoutMs,
  );
  return { stop: () => ws.close(), ended: done };
}

/** The instance a lifecycle event is about, if it is about one (its source is /1.0/instances/<name>). */
export function instanceOf(event: LxdEvent): string | undefined {
  const match = /^\/1\.0\/instances\/([^/?]+)/.exec(event.metadata.source ?? '');
  return match ? decodeURIComponent(match[1]) : undefined;
}
