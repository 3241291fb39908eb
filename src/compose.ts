import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from './engine/context.js';
import { FactStore } from './facts/store.js';
import { observeCommands } from './runtime/command.js';
import { ImageBuilder } from './runtime/docker/images.js';
import { connectDocker, observeDocker } from './runtime/docker/connect.js';
import { dockerImageFiles, dockerRuntime } from './runtime/docker/runtime.js';
import { dockerSidecars } from './runtime/docker/sidecar.js';
import { DockerNodes } from './runtime/docker/nodes.js';
import { LxcNodes } from './runtime/lxc/nodes.js';

/**
 * The composition root: the engine built from its parts, for the CLI and for rig as a library alike. The one place
 * environment variables are read (besides DOCKER_HOST, which dockerode reads).
 */
export function settings(env: NodeJS.ProcessEnv = process.env) {
  return {
    imagesDir: env.RIG_IMAGES_DIR ?? fileURLToPath(new URL('../images', import.meta.url)),
    cacheDir: env.RIG_CACHE_DIR ?? (process.getuid?.() === 0 ? '/var/cache/rig' : join(homedir(), '.cache', 'rig')),
    mirror: env.RIG_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
    lxcPath: '/var/lib/lxc', // LXC's own default for root, so lxc-ls shows rig's nodes too
    lxcCommonConfig: '/usr/share/lxc/config/common.conf',
    rigName: env.RIG_NAME, // set by rig run for its command: the rig a command in it means
  };
}

export type Settings = ReturnType<typeof settings>;

/** A line of --verbose: what rig asked the engine or ran on the host, and how long it took. */
export type Tell = (message: string, fields: Record<string, unknown>) => void;

/** Connect to the container engine and build the engine's parts; with `tell`, every engine call and host command is told as it ends. */
export async function composeEngine(s: Settings = settings(), tell?: Tell): Promise<Engine> {
  const docker = await connectDocker();
  if (tell) {
    observeDocker(docker, tell);
    observeCommands((command, exitCode, ms) =>
      tell(`$ ${command}: exit ${exitCode}, ${Math.round(ms)} ms`, { command, exitCode, ms: Math.round(ms) }),
    );
  }
  const images = new ImageBuilder(docker, s);
  const dockerNodes = new DockerNodes(docker, images.ref('tools'), s.cacheDir);
  const lxcNodes = new LxcNodes(dockerImageFiles(docker), {
    lxcPath: s.lxcPath,
    cacheDir: s.cacheDir,
    toolsImage: images.ref('tools'),
    baseImage: images.ref('base'),
    baseRootfs: images.rootfsDir(),
    commonConfig: s.lxcCommonConfig,
    isRoot: process.getuid?.() === 0,
  });
  return {
    runtime: dockerRuntime(docker),
    sidecars: dockerSidecars(docker, images.ref('sidecar')),
    facts: (access) => FactStore.connect(access),
    images,
    backends: { docker: dockerNodes, lxc: lxcNodes },
    prepare: async (kinds) => {
      await Promise.all([kinds.includes('docker') && dockerNodes.prepare(), kinds.includes('lxc') && lxcNodes.prepare()]);
    },
  };
}
