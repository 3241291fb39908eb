import { randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { isNotFound, LxdError } from './transport.js';
import type { LxdClient } from './api.js';

/**
 * LXD's image store, which every member of a cluster shares: rig's images go in once, from a root filesystem
 * tarball (`docker export` of a container of the image, or a tar of an unpacked tree) and a metadata tarball,
 * with no image server; then instances are made from them by alias.
 */

export interface LxdImage {
  fingerprint: string;
  aliases: Array<{ name: string }>;
  properties: Record<string, string>;
  size: number;
  uploaded_at: string;
}

export interface ImageImport {
  rootfs: string; // a tarball of the root filesystem (plain tar, or compressed as LXD knows: gzip, xz, zstd...)
  metadata: Buffer; // the metadata tarball (metadataTarball)
  alias: string;
  properties?: Record<string, string>; // rig's marks among them (marksOf)
  timeoutMs?: number; // the upload and LXD's unpacking of it
}

/** Import a root filesystem as an image under `alias`; resolves to its fingerprint. */
export async function importImage(client: LxdClient, image: ImageImport): Promise<string> {
  const boundary = `rig-${randomBytes(12).toString('hex')}`;
  const part = (field: string, file: string) =>
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${file}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
  const rootfs = image.rootfs;
  statSync(rootfs); // a missing file is said here, not as a broken upload
  const body = Readable.from(
    (async function* () {
      yield part('metadata', 'metadata.tar');
      yield image.metadata;
      yield Buffer.from('\r\n');
      yield part('rootfs', basename(rootfs));
      for await (const chunk of createReadStream(rootfs)) yield chunk as Buffer;
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    })(),
  );
  const properties = new URLSearchParams(image.properties ?? {}).toString();
  const upload = {
    contentType: `multipart/form-data; boundary=${boundary}`,
    headers: { 'X-LXD-public': 'false', ...(properties ? { 'X-LXD-properties': properties } : {}) },
    stream: body,
  };
  const what = `import image ${image.alias} from ${rootfs}`;
  const timeoutMs = image.timeoutMs ?? 300_000;
  const started = await client.transport.json<unknown>('POST', '/1.0/images', { upload, timeoutMs });
  if (!started.operation) throw new LxdError('POST', '/1.0/images', 0, `${what}: LXD answered with no operation to wait for`);
  const op = await client.wait(started.operation, what, timeoutMs);
  const fingerprint = (op.metadata as { fingerprint?: string } | null)?.fingerprint;
  if (!fingerprint) throw new LxdError('POST', '/1.0/images', 0, `${what}: LXD did not say the new image's fingerprint`);
  await client.transport.json('POST', '/1.0/images/aliases', { body: { name: image.alias, target: fingerprint, description: 'rig' } });
  return fingerprint;
}

export async function images(client: LxdClient): Promise<LxdImage[]> {
  return (await client.transport.json<LxdImage[]>('GET', '/1.0/images?recursion=1')).metadata;
}

/** The image an alias names, if there is one. */
export async function imageByAlias(client: LxdClient, alias: string): Promise<string | undefined> {
  try {
    return (await client.transport.json<{ target: string }>('GET', `/1.0/images/aliases/${encodeURIComponent(alias)}`)).metadata.target;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Delete an image (and with it its aliases); one already gone counts as deleted. */
export async function deleteImage(client: LxdClient, fingerprint: string, timeoutMs?: number): Promise<void> {
  try {
    await client.operate(
      'DELETE',
      `/1.0/images/${encodeURIComponent(fingerprint)}`,
      `delete image ${fingerprint.slice(0, 12)}`,
      undefined,
      timeoutMs,
    );
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** An image's metadata.yaml, in a tarball of its own (a plain ustar archive: LXD reads it as it reads any tar). */
export function metadataTarball(description: string, architecture = lxdArchitecture()): Buffer {
  const yaml = [
    `architecture: ${architecture}`,
    `creation_date: ${Math.floor(Date.now() / 1000)}`,
    'properties:',
    `  description: ${JSON.stringify(description)}`,
    '',
  ].join('\n');
  return tarOf('metadata.yaml', Buffer.from(yaml));
}

/** LXD's name of this machine's architecture. */
function lxdArchitecture(): string {
  const names: Record<string, string> = {
    x64: 'x86_64',
    arm64: 'aarch64',
    arm: 'armv7l',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return names[process.arch] ?? process.arch;
}

/** A tar archive of one regular file (mode 0644, owned by root). */
function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (value: string, at: number, size: number) => header.write(value.slice(0, size), at, size, 'ascii');
  const octal = (value: number, size: number) => value.toString(8).padStart(size - 1, '0');
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(content.length, 12), 124, 12);
  field(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
  field('        ', 148, 8); // the checksum counts its own field as spaces
  field('0', 156, 1);
  field('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(`${octal(sum, 7)}\u0000`, 148, 8);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}
