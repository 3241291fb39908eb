import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine/context.js';
import { ImageBuilder } from '../images/images.js';
import { connectDocker } from '../runtime/docker/connect.js';
import { DockerNodes } from '../runtime/docker/nodes.js';
import { LxcNodes } from '../runtime/lxc/nodes.js';

/** The one place environment variables are read (besides DOCKER_HOST, which dockerode reads). */
export function settings(env: NodeJS.ProcessEnv = process.env) {
  return {
    imagesDir: env.RIG_IMAGES_DIR ?? fileURLToPath(new URL('../../images', import.meta.url)),
    cacheDir: env.RIG_CACHE_DIR ?? (process.getuid?.() === 0 ? '/var/cache/rig' : join(homedir(), '.cache', 'rig')),
    mirror: env.RIG_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
    lxcPath: '/var/lib/lxc', // LXC's own default for root, so lxc-ls shows rig's nodes too
    lxcCommonConfig: '/usr/share/lxc/config/common.conf',
    rigName: env.RIG_NAME, // set by rig run for its command: the rig a command in it means
  };
}

export async function createEngine(): Promise<Engine> {
  const docker = await connectDocker();
  const s = settings();
  const images = new ImageBuilder(docker, s);
  const dockerNodes = new DockerNodes(docker, images.ref('tools'), s.cacheDir);
  const lxcNodes = new LxcNodes(docker, {
    lxcPath: s.lxcPath,
    cacheDir: s.cacheDir,
    toolsImage: images.ref('tools'),
    baseImage: images.ref('base'),
    baseRootfs: images.rootfsDir(),
    commonConfig: s.lxcCommonConfig,
    isRoot: process.getuid?.() === 0,
  });
  return {
    docker,
    images,
    backends: { docker: dockerNodes, lxc: lxcNodes },
    prepare: async (kinds) => {
      await Promise.all([kinds.includes('docker') && dockerNodes.prepare(), kinds.includes('lxc') && lxcNodes.prepare()]);
    },
  };
}
