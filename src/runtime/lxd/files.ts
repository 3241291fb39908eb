import { Readable } from 'node:stream';
import { isNotFound } from './transport.js';
import type { LxdClient } from './api.js';

/**
 * Files in an instance through LXD's API, on whatever member it is (no mount from this host needed): how rig's
 * tools and the repository can reach nodes on remote members, and how rig reads what a node left. And the
 * instance's console log: what its init (rig's agent) wrote, for `rig logs`.
 */

export interface FileOwner {
  uid?: number;
  gid?: number;
  mode?: number; // e.g. 0o644
}

const fileUrl = (instance: string, path: string) => `/1.0/instances/${encodeURIComponent(instance)}/files?path=${encodeURIComponent(path)}`;

const ownerHeaders = (owner: FileOwner): Record<string, string> => ({
  'X-LXD-uid': String(owner.uid ?? 0),
  'X-LXD-gid': String(owner.gid ?? 0),
  'X-LXD-mode': (owner.mode ?? 0o644).toString(8).padStart(4, '0'),
});

/** Write a file in an instance (its parent directory must exist), replacing one that is there. */
export async function pushFile(
  client: LxdClient,
  instance: string,
  path: string,
  content: Buffer | string,
  owner: FileOwner = {},
  timeoutMs?: number,
): Promise<void> {
  const headers = { ...ownerHeaders(owner), 'X-LXD-type': 'file', 'X-LXD-write': 'overwrite' };
  const stream = Readable.from([typeof content === 'string' ? Buffer.from(content) : content]);
  await client.transport.json('POST', fileUrl(instance, path), {
    upload: { contentType: 'application/octet-stream', headers, stream },
    timeoutMs,
  });
}

/** Make a directory in an instance (its parent must exist); one that is there already counts as made. */
export async function makeDirectory(client: LxdClient, instance: string, path: string, owner: FileOwner = {}): Promise<void> {
  const headers = { ...ownerHeaders({ mode: 0o755, ...owner }), 'X-LXD-type': 'directory' };
  const stream = Readable.from([Buffer.alloc(0)]);
  try {
    await client.transport.json('POST', fileUrl(instance, path), { upload: { contentType: 'application/octet-stream', headers, stream } });
  } catch (err) {
    if ((await statFile(client, instance, path)) !== 'directory') throw err;
  }
}

/** Read a file of an instance: its bytes, or undefined if there is no such file. */
export async function pullFile(client: LxdClient, instance: string, path: string, timeoutMs?: number): Promise<Buffer | undefined> {
  try {
    return await client.transport.raw('GET', fileUrl(instance, path), { timeoutMs });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** What is at a path in an instance: a file, a directory, a symlink, or nothing. */
export async function statFile(client: LxdClient, instance: string, path: string): Promise<'file' | 'directory' | 'symlink' | undefined> {
  try {
    const { headers } = await client.transport.withHeaders('GET', fileUrl(instance, path)); // LXD 5.0 has no HEAD here: a file comes whole
    const type = headers['x-lxd-type'];
    return type === 'file' || type === 'directory' || type === 'symlink' ? type : undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Delete a file of an instance; one already gone counts as deleted. */
export async function deleteFile(client: LxdClient, instance: string, path: string): Promise<void> {
  try {
    await client.transport.json('DELETE', fileUrl(instance, path));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The instance's console log as LXD keeps it (what its init and the processes writing to /dev/console wrote). */
export async function consoleLog(client: LxdClient, instance: string, timeoutMs?: number): Promise<string> {
  return (await client.transport.raw('GET', `/1.0/instances/${encodeURIComponent(instance)}/console`, { timeoutMs })).toString('utf8');
}
