import { randomBytes } from 'node:crypto';
import type { FactStore } from './store.js';

/**
 * What the host did to a rig while it ran (a failure drill, a replace...), kept in etcd where nodes can read it
 * (they read all of /rig/<rig>/) but not write it (only the host, etcd's root, writes outside a node's own keys):
 *   /rig/<rig>/events/<13-digit epoch ms>-<kind>-<4 hex>   {"time", "kind", "node"?, "nodes"?, "detail"?}
 * Keys sort by time; the random tail keeps two events of one millisecond apart.
 */
export type EventKind = 'stop' | 'start' | 'kill' | 'pause' | 'unpause' | 'replace' | 'partition' | 'heal' | 'netem';

export interface RigEvent {
  kind: EventKind;
  node?: string; // fqdn
  nodes?: string[]; // fqdns
  detail?: string;
}

export const EVENTS = 'events';

/** The key (under /rig/<rig>/) and value of an event at `at`. */
export function eventEntry(event: RigEvent, at = new Date()): { name: string; value: string } {
  const ms = String(at.getTime()).padStart(13, '0');
  const name = `${EVENTS}/${ms}-${event.kind}-${randomBytes(2).toString('hex')}`;
  return { name, value: JSON.stringify({ time: at.toISOString(), ...event }) };
}

/** Record an event in the rig's etcd, as the host (root). */
export async function recordEvent(facts: Pick<FactStore, 'setMark'>, rig: string, event: RigEvent): Promise<void> {
  const { name, value } = eventEntry(event);
  await facts.setMark(rig, name, value);
}
