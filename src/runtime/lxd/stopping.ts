import type { LxdClient } from './api.js';
import { LxdError } from './transport.js';

/** How long a node's agent has to release its lease when it is stopped, before LXD stops it at once. */
export const HALT_MS = 2_000;
/** How long a node LXD failed to shut down may still take to stop by itself, before it is stopped at once. */
export const STOPPING_MS = 5_000;

const pause = () => new Promise((r) => setTimeout(r, 200));

/**
 * A stop as `down` makes it: SIGTERM (lxc.signal.halt), then at once if it is not stopped in HALT_MS. On a remote's
 * member LXD 5.0.2 may say the shutdown failed while the container still stops: it is given `graceMs` to get there
 * first (a forced stop meanwhile would be refused as the instance being busy).
 */
export async function haltInstance(client: LxdClient, name: string, graceMs: number): Promise<void> {
  const found = await client.instance(name);
  if (!found || found.status === 'Stopped') return;
  if (found.status === 'Frozen') await client.setState(name, 'unfreeze');
  const stopped = async () => (await client.instance(name))?.status === 'Stopped';
  await client.setState(name, 'stop', false, HALT_MS).catch(async () => {
    for (const end = Date.now() + graceMs; Date.now() < end; await pause()) if (await stopped()) return;
    await client.setState(name, 'stop', true).catch(async (err: unknown) => {
      if (!(await stopped())) throw err;
    });
  });
}

/**
 * Delete an instance, again while LXD says it is busy with a stop (on a cluster member LXD 5.0.2 may hold its stop
 * lock a while after the instance shows as stopped), up to STOPPING_MS.
 */
export async function deleteWhenFree(client: LxdClient, name: string): Promise<void> {
  for (const end = Date.now() + STOPPING_MS; ; await pause()) {
    try {
      return await client.deleteInstance(name);
    } catch (err) {
      if (!(err instanceof LxdError && /busy running/i.test(err.lxdMessage)) || Date.now() >= end) throw err;
    }
  }
}
