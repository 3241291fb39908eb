import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from './engine/context.js';
import { FactStore } from './facts/store.js';
import { observeCommands } from './runtime/command.js';
import { packagePath } from './package-root.js';
import { ImageBuilder } from './runtime/docker/images.js';
import { dockerMayBeHere, dockerOnFirstCall, observeDocker } from './runtime/docker/connect.js';
import { dockerHostWiring, dockerImageFiles, dockerNetworks, dockerRigRegistry } from './runtime/docker/runtime.js';
import { dockerSidecars } from './runtime/docker/sidecar.js';
import { DockerNodes } from './runtime/docker/nodes.js';
import { LxcNodes } from './runtime/lxc/nodes.js';
import { LxdNodes } from './runtime/lxd/nodes.js';
import { localSocket } from './runtime/lxd/transport.js';
import type { NodeBackend } from './runtime/backend.js';
import { BACKEND_KINDS, declarationOf, type BackendKind } from './runtime/kinds.js';
import { Segments, type SegmentRoles } from './runtime/segments.js';
import type { NodeImages } from './runtime/lxd/node-images.js';
import { LxdPlaceRoles } from './runtime/lxd/place-roles.js';
import { LxdSites } from './runtime/lxd/sites.js';
import { isLxdBridge } from './runtime/lxd/rig-networks.js';
import type { ImageName, Images } from './runtime/images.js';
import type Docker from 'dockerode';

/**
 * The composition root: the engine built from its parts, for the CLI and for rig as a library alike. The one place
 * environment variables are read (besides DOCKER_HOST, which dockerode reads).
 */
export function settings(env: NodeJS.ProcessEnv = process.env) {
  return {
    imagesDir: env.RIG_IMAGES_DIR ?? packagePath('images'),
    cacheDir: env.RIG_CACHE_DIR ?? (process.getuid?.() === 0 ? '/var/cache/rig' : join(homedir(), '.cache', 'rig')),
    mirror: env.RIG_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
    lxcPath: '/var/lib/lxc', // LXC's own default for root, so lxc-ls shows rig's nodes too
    lxcCommonConfig: '/usr/share/lxc/config/common.conf',
    lxdSocket: env.RIG_LXD_SOCKET ?? localSocket(), // the local LXD daemon's (backend: lxd)
    lxcConf: env.LXD_CONF ?? join(homedir(), '.config', 'lxc'), // the lxc client's config: the remotes lxd.remote names
    // the members of the remotes lxd.remote names see this host's files at the same paths (members on this host)
    lxdSharedFiles: env.RIG_LXD_SHARED_FILES === '1',
    rigName: env.RIG_NAME, // set by rig run for its command: the rig a command in it means
  };
}

export type Settings = ReturnType<typeof settings>;

/** A line of --verbose: what rig asked the engine or ran on the host, and how long it took. */
export type Tell = (message: string, fields: Record<string, unknown>) => void;

/**
 * Build the engine's parts, over both segments a rig can be on (runtime/segments.ts): the Docker engine's, connected
 * to on its first call only, and the local LXD daemon's, if one is here. With `tell`, every engine call and host
 * command is told as it ends.
 */
export async function composeEngine(s: Settings = settings(), tell?: Tell, warn?: (message: string) => void): Promise<Engine> {
  const docker = await dockerOnFirstCall();
  if (tell) {
    observeDocker(docker, tell);
    observeCommands((command, exitCode, ms) =>
      tell(`$ ${command}: exit ${exitCode}, ${Math.round(ms)} ms`, { command, exitCode, ms: Math.round(ms) }),
    );
  }
  const images = new ImageBuilder(docker, s);
  const lxd = lxdParts(s, docker, images);
  const dockerWiring = dockerHostWiring(docker);
  const segments = new Segments({
    docker: {
      rigs: dockerRigRegistry(docker),
      network: dockerNetworks(docker),
      sidecars: dockerSidecars(docker, images.ref('sidecar')),
      containerState: (id) => dockerWiring.containerState(id),
    },
    lxd: () => lxd.roles(),
    lxdNetwork: (id) => lxd.hasNetwork(id),
    lxdBridge: isLxdBridge,
    dockerMayBeHere: () => dockerMayBeHere(process.env),
    warn,
  });
  return {
    rigs: segments.registry(),
    network: segments.networks(),
    sidecars: segments.sidecars(),
    wiring: segments.wiring(dockerWiring),
    facts: (access) => FactStore.connect(access),
    images: imagesOnLxd(images, s, lxd),
    backends: lazyBackends({ docker, images, settings: s, segments, lxdSites: lxd.sites }),
  };
}

/**
 * LXD's roles for rigs in every LXD place (place-roles.ts: each rig's calls go to its place, this host's daemon or
 * the remote its rig file names), built on first use, and only if there is an LXD to use: this host's daemon's socket
 * is here, or a rig on a remote is chosen or recorded (undefined: none, and no rig is on LXD).
 */
function lxdParts(s: Settings, docker: Docker, images: ImageBuilder) {
  const sites = new LxdSites(dockerImageFiles(docker), {
    socket: s.lxdSocket,
    lxcConf: s.lxcConf,
    cacheDir: s.cacheDir,
    baseImage: images.ref('base'),
    baseRootfs: images.rootfsDir(),
  });
  const places = new LxdPlaceRoles(sites, { cacheDir: s.cacheDir, sidecarImage: images.ref('sidecar') });
  let roles: SegmentRoles | undefined;
  const here = () => existsSync(s.lxdSocket);
  return {
    sites,
    roles: () => (roles ??= here() || sites.anyRemote() ? places.roles() : undefined),
    hasNetwork: (id: string) => places.hasNetwork(id),
    localImages: (): NodeImages | undefined => (here() ? sites.at({}).images : undefined),
  };
}

/**
 * rig's images as a rig on LXD needs them: none missing when LXD's store has each under its hashed alias and the
 * tools are unpacked in the cache (so `up` asks Docker nothing); else Docker's answer (it builds them).
 */
function imagesOnLxd(images: ImageBuilder, s: Settings, lxd: ReturnType<typeof lxdParts>): Images {
  const inLxd = async (name: ImageName, store: NodeImages) =>
    name === 'tools' ? existsSync(join(s.cacheDir, 'tools', images.ref('tools').split(':')[1])) : store.has(images.ref(name));
  const wrapped = Object.create(images) as Images;
  wrapped.missing = async (names, force, segment) => {
    const store = lxd.localImages();
    if (segment === 'lxd' && store && !force && (await Promise.all(names.map((n) => inLxd(n, store)))).every(Boolean)) return [];
    return images.missing(names, force);
  };
  return wrapped;
}

/** What a backend is built from. */
interface Parts {
  docker: Docker;
  images: ImageBuilder;
  settings: Settings;
  segments: Segments;
  lxdSites: LxdSites;
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
  lxd: ({ docker, images, settings, lxdSites }) =>
    new LxdNodes(
      dockerImageFiles(docker),
      {
        socket: settings.lxdSocket,
        lxcConf: settings.lxcConf,
        cacheDir: settings.cacheDir,
        toolsImage: images.ref('tools'),
        baseImage: images.ref('base'),
        baseRootfs: images.rootfsDir(),
        sharedFiles: settings.lxdSharedFiles,
      },
      lxdSites,
    ),
};

/** Every backend, each built when it is first used: a rig of Docker nodes builds no LXC backend. */
function lazyBackends(parts: Parts): Partial<Record<BackendKind, NodeBackend>> {
  const built: Partial<Record<BackendKind, NodeBackend>> = {};
  const backends: Partial<Record<BackendKind, NodeBackend>> = {};
  for (const kind of BACKEND_KINDS) {
    // A backend on Docker's segment has no nodes in a rig on LXD: it is not asked about one (segments.ts).
    const make = () => FACTORIES[kind](parts);
    const scoped = () => (declarationOf(kind).segment === 'docker' ? parts.segments.dockerBackend(make()) : make());
    Object.defineProperty(backends, kind, { enumerable: true, get: () => (built[kind] ??= scoped()) });
  }
  return backends;
}
