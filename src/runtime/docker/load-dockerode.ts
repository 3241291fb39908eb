import { createRequire, Module } from 'node:module';
import type Dockerode from 'dockerode';

// Modules that export one function or constructor, which rig calls rarely or never (paths from dockerode's folder).
const LOADED_ON_FIRST_USE = [
  'docker-modem/lib/ssh.js', // ssh2, for ssh:// hosts
  'dockerode/lib/session.js', // gRPC, for BuildKit sessions
  'docker-modem/lib/http_duplex.js', // readable-stream, for attaching to a container's stdin
];
// Modules that export an object, which rig uses rarely or never: loaded on the first look at one of its properties.
const OBJECTS_LOADED_ON_FIRST_USE = [
  'tar-fs', // a build context from a directory (rig gives its contexts as a stream)
  'https', // Docker over TLS (tcp:// hosts with DOCKER_TLS_VERIFY)
];

/**
 * Load dockerode without the parts rig never calls at start: they are most of dockerode's load time (about 0.35 s
 * of 0.5), which every command pays. Each is put in `require.cache` (documented as writable: an entry there is what
 * a `require` of that file gets) as a stand-in that loads the real one on its first call, `new` or property read, so
 * ssh:// hosts, BuildKit and stdin still work. The entries go once dockerode is loaded: only its modules hold them.
 */
export async function loadDockerode(): Promise<typeof Dockerode> {
  // Resolved as dockerode resolves them: from its own folder.
  const require = createRequire(createRequire(import.meta.url).resolve('dockerode/package.json'));
  const cache = require.cache;
  const stand = new Map<string, unknown>();
  for (const path of LOADED_ON_FIRST_USE) {
    const file = require.resolve(path);
    stand.set(file, function onFirstUse(this: unknown, ...args: unknown[]) {
      const real = realModule(file, require) as new (...a: unknown[]) => unknown;
      return new.target ? Reflect.construct(real, args) : (real as unknown as (...a: unknown[]) => unknown).apply(this, args);
    });
  }
  for (const name of OBJECTS_LOADED_ON_FIRST_USE) {
    const file = require.resolve(name);
    let real: object | undefined;
    const target = () => (real ??= realModule(file, require) as object);
    stand.set(
      file,
      new Proxy(
        {},
        {
          get: (_, key) => Reflect.get(target(), key),
          has: (_, key) => Reflect.has(target(), key),
          ownKeys: () => Reflect.ownKeys(target()),
          getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(target(), key), configurable: true }),
        },
      ),
    );
  }
  for (const [file, exports] of stand) cache[file] = standIn(file, exports);
  try {
    return (await import('dockerode')).default;
  } finally {
    for (const file of stand.keys()) delete cache[file];
  }
}

function standIn(file: string, exports: unknown): NodeJS.Module {
  const module = new Module(file);
  module.filename = file;
  module.exports = exports;
  module.loaded = true;
  return module;
}

/** The real module: its stand-in left the cache once dockerode was loaded, so this loads (or finds) the real one. */
function realModule(file: string, require: NodeJS.Require): unknown {
  return require(file.startsWith('/') ? file : `node:${file}`);
}
