import Module from 'node:module';
import type Dockerode from 'dockerode';

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load; _resolveFilename: (request: string, parent: unknown, isMain: boolean) => string };

// Modules that export one function or constructor, which rig calls rarely or never.
const LOADED_ON_FIRST_USE = [
  '/docker-modem/lib/ssh.js', // ssh2, for ssh:// hosts
  '/dockerode/lib/session.js', // gRPC, for BuildKit sessions
  '/docker-modem/lib/http_duplex.js', // readable-stream, for attaching to a container's stdin
];
// Modules that export an object, which rig uses rarely or never: loaded on the first look at one of its properties.
const OBJECTS_LOADED_ON_FIRST_USE = [
  '/tar-fs/index.js', // a build context from a directory (rig gives its contexts as a stream)
  'https', // Docker over TLS (tcp:// hosts with DOCKER_TLS_VERIFY)
];

/**
 * Load dockerode without the parts rig never calls at start: they are most of dockerode's load time, which
 * every command pays. Each is replaced by a function that loads the real one on its first call (or `new`), so
 * ssh:// hosts, BuildKit and stdin still work.
 */
export async function loadDockerode(): Promise<typeof Dockerode> {
  const load = loader._load;
  loader._load = function (request, parent, isMain) {
    const file = loader._resolveFilename(request, parent, isMain);
    if (OBJECTS_LOADED_ON_FIRST_USE.some((tail) => file.endsWith(tail))) {
      let real: object | undefined;
      const target = () => (real ??= load(request, parent, isMain) as object);
      return new Proxy(
        {},
        {
          get: (_, key) => Reflect.get(target(), key),
          has: (_, key) => Reflect.has(target(), key),
          ownKeys: () => Reflect.ownKeys(target()),
          getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(target(), key), configurable: true }),
        },
      );
    }
    if (LOADED_ON_FIRST_USE.some((tail) => file.endsWith(tail))) {
      return function onFirstUse(this: unknown, ...args: unknown[]) {
        const real = load(request, parent, isMain) as new (...a: unknown[]) => unknown;
        return new.target ? Reflect.construct(real, args) : (real as unknown as (...a: unknown[]) => unknown).apply(this, args);
      };
    }
    return load.call(this, request, parent, isMain);
  };
  try {
    return (await import('dockerode')).default;
  } finally {
    loader._load = load;
  }
}
