import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
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

async function unpackOnce(docker: Docker, image: string, dir: string, path?: string): Promise<void> {
  if (existsSync(dir)) return;
  mkdirSync(dirname(dir), { recursive: true });
  const partial = mkdtempSync(`${dir}.partial-`);
  // Never started: a container is only the way to read an image's files. FROM scratch images have no command.
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['/.rig-unpack'],
    Labels: { [Label.role]: 'unpack' },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    const tar = path ? await container.getArchive({ path }) : await container.export();
    const { execa } = await import('execa'); // only when a tree is unpacked: execa is slow to load
    const untar = execa('tar', ['-x', '--numeric-owner', '-C', partial]);
    tar.pipe(untar.stdin!);
    await untar;
    // getArchive puts the tree under its own base name; export adds Docker's marker file.
    const from = path ? `${partial}/${path.split('/').filter(Boolean).pop()}` : partial;
    if (!path) rmSync(`${partial}/.dockerenv`, { force: true });
    try {
      renameSync(from, dir);
    } catch (err) {
      if (!existsSync(dir)) throw err; // else another rig unpacked the same tree first
    }
  } finally {
    // The container first: a failure to clear the partial tree must not leave it behind.
    await removeContainer(docker, container.id);
    rmSync(partial, { recursive: true, force: true });
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
