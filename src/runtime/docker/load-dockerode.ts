import Module from 'node:module';
import type Dockerode from 'dockerode';

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load; _resolveFilename: (request: string, parent: unknown, isMain: boolean) => string };

/**
 * Load dockerode without the parts rig never calls at start: docker-modem's SSH transport (ssh2, for ssh://
 * hosts) and dockerode's BuildKit session (gRPC). Together they are most of dockerode's load time, which every
 * command pays. Each is replaced by a function that loads the real one on its first call, so ssh:// hosts and
 * BuildKit still work.
 */
export async function loadDockerode(): Promise<typeof Dockerode> {
  const load = loader._load;
  loader._load = function (request, parent, isMain) {
    const file = loader._resolveFilename(request, parent, isMain);
    if (file.endsWith('/docker-modem/lib/ssh.js') || file.endsWith('/dockerode/lib/session.js')) {
      return (...args: unknown[]) => (load(request, parent, isMain) as (...a: unknown[]) => unknown)(...args);
    }
    return load.call(this, request, parent, isMain);
  };
  try {
    return (await import('dockerode')).default;
  } finally {
    loader._load = load;
  }
}
