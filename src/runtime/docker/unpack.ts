import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import type Docker from 'dockerode';
import { dirname, join } from 'node:path';
import { removeContainer } from './containers.js';
import { Label } from '../../labels.js';

/**
 * Fill `dir` once with files of a Docker image: `path` in it (getArchive), or its whole filesystem without
 * `path`. Unpacked beside `dir` and renamed into place, so a reader never sees half a tree and two rigs
 * unpacking at once both end up with one complete copy.
 */
export function unpackImage(docker: Docker, image: string, dir: string, path?: string): Promise<void> {
  // One unpack per tree in this process too: Docker and LXC nodes of one rig both need the tools.
  let unpack = unpacking.get(dir);
  if (!unpack) {
    unpack = unpackOnce(docker, image, dir, path);
    unpacking.set(dir, unpack);
    unpack.catch(() => unpacking.delete(dir));
  }
  return unpack;
}

const unpacking = new Map<string, Promise<void>>();

/**
 * Read an image's files through a container made from it, never started (a FROM scratch image has no command: the
 * container is only the way in), on no network, and removed once `read` is done.
 */
export async function readImage<T>(
  docker: Docker,
  image: string,
  role: 'probe' | 'unpack',
  read: (container: Docker.Container) => Promise<T>,
): Promise<T> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: [`/.rig-${role}`],
    Labels: { [Label.role]: role },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    return await read(container);
  } finally {
    await removeContainer(docker, container.id);
  }
}

async function unpackOnce(docker: Docker, image: string, dir: string, path?: string): Promise<void> {
  if (existsSync(dir)) return;
  mkdirSync(dirname(dir), { recursive: true });
  const partial = mkdtempSync(`${dir}.partial-`);
  try {
    await readImage(docker, image, 'unpack', (container) => untarInto(container, partial, dir, path));
  } finally {
    rmSync(partial, { recursive: true, force: true }); // after the container is gone: a failure here leaves no container
  }
}

/** Unpack the container's `path` (or its whole filesystem) into `partial`, then rename the tree into `dir`. */
async function untarInto(container: Docker.Container, partial: string, dir: string, path?: string): Promise<void> {
  const tar = path ? await container.getArchive({ path }) : await container.export();
  const { execa } = await import('execa'); // only when a tree is unpacked: execa is slow to load
  const untar = execa('tar', ['-x', '--numeric-owner', '-C', partial]);
  tar.pipe(untar.stdin!);
  await untar;
  // getArchive puts the tree under its own base name; export adds Docker's marker file.
  const from = path ? `${partial}/${path.split('/').filter(Boolean).pop()}` : partial;
  if (!path) {
    rmSync(`${partial}/.dockerenv`, { force: true });
    // a root filesystem's root is 0755: mkdtemp made it 0700, and Docker's export has no entry for it (a node's
    // services that run as a user, redis's, could not reach their own directories)
    chmodSync(partial, 0o755);
  }
  try {
    renameSync(from, dir);
  } catch (err) {
    if (!existsSync(dir)) throw err; // else another rig unpacked the same tree first
  }
}

/**
 * rig's node tools (the agent, a static busybox), unpacked once per tools image into the cache. Every node, of
 * any backend, mounts this directory read-only at /.rig.
 */
export async function unpackTools(docker: Docker, toolsImage: string, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'tools', toolsImage.split(':')[1]);
  await unpackImage(docker, toolsImage, dir, '/rig');
  return dir;
}
