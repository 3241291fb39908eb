import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { errorMessage, ExitCode, RigError } from '../../errors.js';
import type { LxdEndpoint } from './transport.js';

/**
 * A remote of the lxc client, by the name `lxc remote add` gave it, read from the client's own config (config.yml in
 * $LXD_CONF, else ~/.config/lxc): its address and default project, the client's certificate and key (client.crt,
 * client.key) and the server's certificate the client pinned when the remote was added (servercerts/NAME.crt). The
 * rig file names the remote; no address, certificate or key is ever in it. `local` (or a remote at unix://) is a
 * daemon's Unix socket.
 */

/** The remote `lxd: remote:` names, as rig reaches it. */
export interface LxdRemote {
  name: string; // as the rig file names it; "local" when it names none
  endpoint: LxdEndpoint;
  project?: string; // the remote's own default project, as lxc's config says
  where: string; // its address or socket, for messages
}

interface LxcConfig {
  remotes?: Record<string, { addr?: string; protocol?: string; project?: string; auth_type?: string } | undefined>;
}

/** `at` is where the rig file names the remote (file:line: lxd.remote), for errors. */
export function resolveRemote(name: string | undefined, options: { lxcConf: string; socket: string; at: string }): LxdRemote {
  const { lxcConf, socket, at } = options;
  const local = { name: 'local', endpoint: { socket }, where: socket };
  if (name === undefined) return local;
  const configFile = join(lxcConf, 'config.yml');
  const addRemote = `add it with: lxc remote add ${name} https://HOST:8443 (and a trust token), or set LXD_CONF to the lxc config that has it`;
  let config: LxcConfig | undefined;
  try {
    config = yaml.load(readFileSync(configFile, 'utf8')) as LxcConfig | undefined;
  } catch (err) {
    if (name === 'local') return local; // lxc's own default: a client with no config knows `local` too
    const why =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'there is no lxc client config' : `it cannot be read: ${errorMessage(err)}`;
    throw new RigError(`${at}: rig looks for the remote ${name} in ${configFile}, and ${why}.`, addRemote, ExitCode.badInput, {
      cause: err,
    });
  }
  const remote = config?.remotes?.[name];
  if (!remote?.addr) {
    if (name === 'local') return local;
    const known = Object.keys(config?.remotes ?? {}).sort();
    throw new RigError(
      `${at}: the lxc client has no remote named ${name} (${configFile}${known.length ? ` has ${known.join(', ')}` : ''}).`,
      addRemote,
      ExitCode.badInput,
    );
  }
  const project = remote.project || undefined;
  if (remote.addr.startsWith('unix:')) {
    const path = remote.addr.replace(/^unix:\/\//, '');
    return { name, endpoint: { socket: path || socket }, project, where: path || socket };
  }
  if (remote.protocol && remote.protocol !== 'lxd') {
    throw new RigError(
      `${at}: the remote ${name} is an image server (${remote.protocol}), not an LXD that runs instances.`,
      'name a remote of protocol lxd (lxc remote list)',
      ExitCode.badInput,
    );
  }
  if (remote.auth_type && remote.auth_type !== 'tls') {
    throw new RigError(
      `${at}: the remote ${name} authenticates with ${remote.auth_type}; rig speaks to LXD with the lxc client's TLS certificate only.`,
      `add the remote again with TLS: lxc remote add ${name} ${remote.addr} --auth-type tls`,
      ExitCode.badInput,
    );
  }
  const read = (file: string, what: string) => {
    try {
      return readFileSync(join(lxcConf, file), 'utf8');
    } catch (err) {
      throw new RigError(
        `${at}: the remote ${name} is in ${configFile}, but ${what} (${join(lxcConf, file)}) cannot be read: ${errorMessage(err)}.`,
        `add the remote again with the lxc client, which writes it: lxc remote remove ${name}, then lxc remote add ${name} ${remote.addr}`,
        ExitCode.badInput,
        { cause: err },
      );
    }
  };
  const endpoint = {
    url: remote.addr,
    clientCert: read('client.crt', "the lxc client's certificate"),
    clientKey: read('client.key', "the lxc client's key"),
    serverCert: read(join('servercerts', `${name}.crt`), "the server's certificate lxc pinned"),
  };
  return { name, endpoint, project, where: remote.addr };
}
