import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine/context.js';
import { ImageBuilder } from '../runtime/docker/images.js';
import { connectDocker } from '../runtime/docker/connect.js';
import { dockerImageFiles, dockerRuntime } from '../runtime/docker/runtime.js';
import { dockerSidecars } from '../runtime/docker/sidecar.js';
import { FactStore } from '../facts/store.js';
import { DockerNodes } from '../runtime/docker/nodes.js';
import { LxcNodes } from '../runtime/lxc/nodes.js';
import { observeCommands } from '../runtime/command.js';
import { outputSettings, verbose } from './output.js';
import type Docker from 'dockerode';

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
  if (outputSettings().verbose) observeEngine(docker);
  const s = settings();
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

/** rig --verbose: every Docker API call (method, path, status, time) and every host command, as they end. */
function observeEngine(docker: Docker): void {
  const modem = docker.modem as unknown as {
    dial(options: { method: string; path: string }, callback: (err: unknown, data: unknown) => void): void;
  };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    const start = performance.now();
    dial(options, (err, data) => {
      const status = err ? ((err as { statusCode?: number }).statusCode ?? 'error') : 'ok';
      const ms = Math.round(performance.now() - start);
      verbose(`docker ${options.method} ${options.path.split('?')[0]}: ${status}, ${ms} ms`, {
        engine: 'docker',
        method: options.method,
        path: options.path,
        status,
        ms,
      });
      callback(err, data);
    });
  };
  observeCommands((command, exitCode, ms) =>
    verbose(`$ ${command}: exit ${exitCode}, ${Math.round(ms)} ms`, { command, exitCode, ms: Math.round(ms) }),
  );
}
