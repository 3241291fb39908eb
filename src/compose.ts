import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from './engine/context.js';
import { FactStore } from './facts/store.js';
import { observeCommands } from './runtime/command.js';
import { ImageBuilder } from './runtime/docker/images.js';
import { connectDocker, observeDocker } from './runtime/docker/connect.js';
import { dockerHostWiring, dockerImageFiles, dockerNetworks, dockerRigRegistry } from './runtime/docker/runtime.js';
import { dockerSidecars } from './runtime/docker/sidecar.js';
import { DockerNodes } from './runtime/docker/nodes.js';
import { LxcNodes } from './runtime/lxc/nodes.js';
import { LxdNodes } from './runtime/lxd/nodes.js';
import { localSocket } from './runtime/lxd/transport.js';
import type { NodeBackend } from './runtime/backend.js';
import { BACKEND_KINDS, type BackendKind } from './runtime/kinds.js';
import type Docker from 'dockerode';

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
    lxdSocket: env.RIG_LXD_SOCKET ?? localSocket(), // the local LXD daemon's (backend: lxd)
    lxcConf: env.LXD_CONF ?? join(homedir(), '.config', 'lxc'), // the lxc client's config: the remotes lxd.remote names
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
  return {
    rigs: dockerRigRegistry(docker),
    network: dockerNetworks(docker),
    sidecars: dockerSidecars(docker, images.ref('sidecar')),
    wiring: dockerHostWiring(docker),
    facts: (access) => FactStore.connect(access),
    images,
    backends: lazyBackends({ docker, images, settings: s }),
  };
}

/** What a backend is built from. */
interface Parts {
  docker: Docker;
  images: ImageBuilder;
  settings: Settings;
}

/** How each backend of the registry (runtime/kinds.ts) is built: one entry a kind. */
const FACTORIES: Record<BackendKind, (parts: Parts) => NodeBackend> = {
  docker: ({ docker, images, settings }) => new DockerNodes(docker, images.ref('tools'), settings.cacheDir),
  lxc: ({ docker, images, settings }) =>
    new LxcNodes(dockerImageFiles(docker), {
      lxcPath: settings.lxcPath,
      cacheDir: settings.cacheDir,
      toolsImage: images.ref('tools'),
      baseImage: images.ref('base'),
      baseRootfs: images.rootfsDir(),
      commonConfig: settings.lxcCommonConfig,
      isRoot: process.getuid?.() === 0,
    }),
  lxd: ({ docker, images, settings }) =>
    new LxdNodes(dockerImageFiles(docker), {
      socket: settings.lxdSocket,
      lxcConf: settings.lxcConf,
      cacheDir: settings.cacheDir,
      toolsImage: images.ref('tools'),
      baseImage: images.ref('base'),
      baseRootfs: images.rootfsDir(),
    }),
};

/** Every backend, each built when it is first used: a rig of Docker nodes builds no LXC backend. */
function lazyBackends(parts: Parts): Partial<Record<BackendKind, NodeBackend>> {
  const built: Partial<Record<BackendKind, NodeBackend>> = {};
  const backends: Partial<Record<BackendKind, NodeBackend>> = {};
  for (const kind of BACKEND_KINDS) {
    Object.defineProperty(backends, kind, { enumerable: true, get: () => (built[kind] ??= FACTORIES[kind](parts)) });
  }
  return backends;
}
