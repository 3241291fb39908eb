import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine/context.js';
import { ImageBuilder } from '../images/images.js';
import { connectDocker } from '../runtime/docker/connect.js';
import { DockerNodes } from '../runtime/docker/nodes.js';

/** The one place environment variables are read (besides DOCKER_HOST, which dockerode reads). */
export function settings(env: NodeJS.ProcessEnv = process.env) {
  return {
    imagesDir: env.RIG_IMAGES_DIR ?? fileURLToPath(new URL('../../images', import.meta.url)),
    cacheDir: env.RIG_CACHE_DIR ?? (process.getuid?.() === 0 ? '/var/cache/rig' : join(homedir(), '.cache', 'rig')),
    mirror: env.RIG_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
  };
}

export async function createEngine(): Promise<Engine> {
  const docker = await connectDocker();
  const images = new ImageBuilder(docker, settings());
  const dockerNodes = new DockerNodes(docker, images.ref('tools'));
  return {
    docker,
    images,
    backends: { docker: dockerNodes },
    prepare: () => dockerNodes.prepare(),
  };
}
