import { ExitCode, InternalError, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { LOG_FILE_MB, type LinkRecord } from '../backend.js';
import { recordedUpdate } from '../../rigfile/steps.js';
import { recordedRoles } from '../backend.js';
import type { UpdateStep } from '../../rigfile/types.js';

/** What marks an LXC container as a rig's node. `down` and `status` read it back from the config alone. */
export interface LxcMarker {
  rig: string;
  node: string; // fqdn
  mirrors?: string;
  roles: string[]; // its roles (groups), recorded by rig
  validate: string[]; // the node's own checks (rig test)
  validateTimeout?: number; // seconds each may take, if the rig file says
  update: UpdateStep[]; // how it is updated in place (rig update)
  settings?: string; // the hash of the settings it was made with
  links?: LinkRecord[]; // symlinks made for it alone (by a reconcile)
}

export interface LxcNodeConfig {
  marker: LxcMarker;
  hostname: string; // short name
  lowerDir: string; // the shared, read-only root filesystem
  upperDir: string; // this node's changes to it
  toolsDir: string; // rig's node tools, bind-mounted read-only at /.rig
  repoDir: string; // the rig file's directory, bind-mounted read-only at repoMount
  repoMount: string; // absolute path in the node, e.g. /.rig-repo
  bridge: string;
  hostInterface: string;
  mac: string;
  env: Record<string, string>; // single-line values only: an LXC config line cannot hold a newline
  consoleLog: string;
  systemd: boolean; // init: systemd: rig-init sets the agent up as a service and becomes systemd
  commonConfig: string; // LXC's shipped defaults: capabilities dropped, seccomp, device allowlist, /proc and /sys
}

/** A path in an fstab-style mount entry: blanks and backslashes as octal escapes. */
const fstabPath = (path: string) => path.replace(/[\\ \t\n]/g, (ch) => `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`);

/** The whole config of one node: marker comments, the overlay root, the veth on the rig bridge, the agent as init. */
export function renderConfig(c: LxcNodeConfig): string {
  for (const path of [c.lowerDir, c.upperDir]) {
    if (path.includes(':'))
      throw new RigError(
        `LXC cannot use an overlay path with a colon in it: ${path}`,
        'set RIG_CACHE_DIR (or the LXC path) to a directory whose path has no colon',
        ExitCode.badInput,
      );
  }
  const { rig, node, mirrors, roles, validate, validateTimeout, update, settings, links } = c.marker;
  return [
    `# A node of rig ${rig}, made by rig; \`rig down --name ${rig}\` removes it.`,
    `# ${Label.rig} = ${rig}`,
    `# ${Label.role} = node`,
    `# ${Label.backend} = lxc`,
    `# ${Label.node} = ${node}`,
    ...(mirrors ? [`# ${Label.mirrors} = ${mirrors}`] : []),
    `# ${Label.roles} = ${roles.join(',')}`,
    `# ${Label.validate} = ${asciiJson(validate)}`,
    ...(validateTimeout ? [`# ${Label.validateTimeout} = ${validateTimeout}`] : []),
    `# ${Label.update} = ${asciiJson(update)}`,
    ...(settings ? [`# ${Label.spec} = ${settings}`] : []),
    ...(links?.length ? [`# ${Label.links} = ${asciiJson(links)}`] : []),
    `lxc.include = ${c.commonConfig}`,
    `lxc.uts.name = ${c.hostname}`,
    `lxc.rootfs.path = overlay:${c.lowerDir}:${c.upperDir}`,
    'lxc.net.0.type = veth',
    `lxc.net.0.link = ${c.bridge}`,
    `lxc.net.0.veth.pair = ${c.hostInterface}`,
    `lxc.net.0.hwaddr = ${c.mac}`,
    'lxc.net.0.name = eth0',
    'lxc.net.0.flags = up',
    // systemd keeps a /run that is mounted before it starts: rig-init writes the agent's unit there.
    ...(c.systemd ? ['lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=755,create=dir 0 0'] : []),
    `lxc.mount.entry = ${fstabPath(c.toolsDir)} .rig none bind,ro,create=dir 0 0`,
    `lxc.mount.entry = ${fstabPath(c.repoDir)} ${fstabPath(c.repoMount.replace(/^\/+/, ''))} none bind,ro,create=dir 0 0`,
    'lxc.mount.entry = tmpfs run/rig tmpfs rw,nosuid,nodev,size=16m,create=dir 0 0',
    `lxc.init.cmd = /.rig/bin/sh /.rig/bin/${c.systemd ? 'rig-init' : 'rig-agent'}`,
    // systemd halts on SIGRTMIN+3; the agent alone releases its lease on SIGTERM (LXC's default is SIGPWR)
    `lxc.signal.halt = ${c.systemd ? 'SIGRTMIN+3' : 'SIGTERM'}`,
    ...Object.entries(c.env).map(([key, value]) => `lxc.environment = ${key}=${value}`),
    `lxc.console.logfile = ${c.consoleLog}`,
    // Capped: once console.log holds this much, LXC renames it console.log.1 (in place of the one before) and begins
    // a new one, so a node that prints without end keeps at most twice this on disk. No ringbuffer in memory.
    `lxc.console.size = ${LOG_FILE_MB}MB`,
    'lxc.console.rotate = 1',
    '',
  ].join('\n');
}

/**
 * The marker of a config, or undefined if it is not a rig node's. Only the comment lines that open the file count,
 * split at "\n" alone, and the first value of a key wins: content inside a value (a validate command with a U+2028
 * or a "\r" in it) can never pose as a marker line of its own.
 */
export function readMarker(config: string): LxcMarker | undefined {
  const values = new Map<string, string>();
  for (const line of config.split('\n')) {
    if (!line.startsWith('#')) break;
    const match = /^# (io\.rig\.[a-z-]+) = ([\x20-\x7e]*)$/.exec(line);
    if (match && !values.has(match[1])) values.set(match[1], match[2].trim());
  }
  const rig = values.get(Label.rig);
  const node = values.get(Label.node);
  if (!rig || !node || values.get(Label.role) !== 'node' || values.get(Label.backend) !== 'lxc') return undefined;
  return {
    rig,
    node,
    mirrors: values.get(Label.mirrors) || undefined,
    roles: recordedRoles(values.get(Label.roles)),
    validate: parseList(values.get(Label.validate)),
    ...seconds(values.get(Label.validateTimeout)),
    update: recordedUpdate(values.get(Label.update)),
    settings: values.get(Label.spec) || undefined,
    links: parseLinks(values.get(Label.links)),
  };
}

/** A marker's whole number of seconds, as a field (none when it is not one). */
const seconds = (text: string | undefined) => (text && /^[1-9]\d*$/.test(text) ? { validateTimeout: Number(text) } : {});

/** JSON in printable ASCII only (every other character as \uXXXX), so a marker value stays one plain line. */
const asciiJson = (value: unknown) =>
  JSON.stringify(value).replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);

function parseList(json: string | undefined): string[] {
  try {
    const list: unknown = JSON.parse(json ?? '[]');
    return Array.isArray(list) ? list.map(String) : [];
  } catch {
    return []; // a marker written by hand or cut short holds no list
  }
}

/**
 * Split the agent's environment: single-line values go into the config (lxc-attach sees them too); the
 * others become a shell file the agent sources at /.rig-env, or undefined if there are none.
 */
export function splitEnv(env: Record<string, string>): { config: Record<string, string>; file?: string } {
  const config: Record<string, string> = {};
  const lines: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InternalError(`not an environment variable name: ${key}`);
    if (/[\n\r]/.test(value)) lines.push(`export ${key}='${value.replaceAll("'", "'\\''")}'`);
    else config[key] = value;
  }
  return { config, file: lines.length ? `# Written by rig: what an LXC config line cannot hold.\n${lines.join('\n')}\n` : undefined };
}

function parseLinks(json: string | undefined): LinkRecord[] {
  try {
    const list: unknown = JSON.parse(json ?? '[]');
    return Array.isArray(list)
      ? list
          .filter((l): l is LinkRecord => typeof l?.path === 'string' && typeof l?.target === 'string')
          .map(({ path, target }) => ({ path, target }))
      : [];
  } catch {
    return []; // a marker written by hand or cut short holds no links
  }
}
