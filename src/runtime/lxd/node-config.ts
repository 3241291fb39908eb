import { Label } from '../../labels.js';
import { undottedName } from '../../plan/plan.js';
import { recordedUpdate } from '../../rigfile/steps.js';
import type { UpdateStep } from '../../rigfile/types.js';
import { LOG_FILE_MB, recordedRoles, type LinkRecord, type NodeInstance } from '../backend.js';
import type { Instance } from './api.js';
import { labelsOf, marksOf } from './marks.js';

/**
 * An LXD node as LXD keeps it: its instance name, its marks (rig's labels as user.rig.* config keys, read back by
 * `down`, `status` and the reaper alone) and the config and devices that make it a rig node.
 */

/** A node's instance name: no dot, which LXD does not allow (the plan's container name for an LXD node). */
export const instanceName = undottedName;

/** What rig records on a node: as the LXC backend's marker, here user.rig.* config keys. */
export interface LxdNodeMarks {
  rig: string;
  node: string; // fqdn
  mirrors?: string;
  roles: string[];
  validate: string[];
  validateTimeout?: number;
  update: UpdateStep[];
  settings?: string;
  links: LinkRecord[];
  systemd: boolean;
}

export function nodeMarks(m: LxdNodeMarks): Record<string, string> {
  return marksOf({
    [Label.rig]: m.rig,
    [Label.role]: 'node',
    [Label.backend]: 'lxd',
    [Label.node]: m.node,
    ...(m.mirrors ? { [Label.mirrors]: m.mirrors } : {}),
    [Label.roles]: m.roles.join(','),
    [Label.validate]: JSON.stringify(m.validate),
    ...(m.validateTimeout ? { [Label.validateTimeout]: String(m.validateTimeout) } : {}),
    [Label.update]: JSON.stringify(m.update),
    ...(m.settings ? { [Label.spec]: m.settings } : {}),
    ...(m.links.length ? { [Label.links]: JSON.stringify(m.links) } : {}),
    ...(m.systemd ? { [Label.init]: 'systemd' } : {}),
  });
}

/** The node an instance is, from its marks; undefined if it is not a rig's LXD node (of `rig`, if named). */
export function nodeOf(instance: Instance, rig?: string): NodeInstance | undefined {
  const labels = labelsOf(instance.config);
  const owner = labels[Label.rig];
  const node = labels[Label.node];
  if (!owner || !node || labels[Label.role] !== 'node' || labels[Label.backend] !== 'lxd') return undefined;
  if (rig !== undefined && owner !== rig) return undefined;
  const timeout = labels[Label.validateTimeout];
  return {
    rig: owner,
    node,
    backend: 'lxd',
    name: instance.name,
    running: instance.status === 'Running' || instance.status === 'Frozen',
    paused: instance.status === 'Frozen',
    mirrors: labels[Label.mirrors] || undefined,
    roles: recordedRoles(labels[Label.roles]),
    validate: jsonList(labels[Label.validate]).map(String),
    ...(timeout && /^[1-9]\d*$/.test(timeout) ? { validateTimeout: Number(timeout) } : {}),
    update: recordedUpdate(labels[Label.update]),
    settings: labels[Label.spec] || undefined,
    links: jsonList(labels[Label.links])
      .filter((l): l is LinkRecord => typeof l?.path === 'string' && typeof l?.target === 'string')
      .map(({ path, target }) => ({ path, target })),
  };
}

function jsonList(json: string | undefined): Array<{ path?: unknown; target?: unknown }> {
  try {
    const list: unknown = JSON.parse(json ?? '[]');
    return Array.isArray(list) ? (list as Array<{ path?: unknown; target?: unknown }>) : [];
  } catch {
    return []; // a mark written by hand or cut short holds no list
  }
}

export interface LxdNodeSpec {
  hostname: string; // short name
  bridge: string; // the rig bridge (Docker's), not LXD's: an unmanaged parent
  hostInterface: string; // the host end of its veth, named as the LXC backend names it (port-guard.ts keys on it)
  mac: string;
  toolsDir: string;
  repoDir: string;
  repoMount: string;
  env: Record<string, string>; // single-line values (splitEnv)
  consoleLog: string; // where LXC writes its console (rig's, on this host: `rig logs` follows it there)
  systemd: boolean;
  privileged: boolean;
}

/**
 * Its config and devices. The agent is init and the console goes to rig's file through `raw.lxc` (LXD passes those
 * lines to LXC after its own, so they win); the rest is LXD's own keys.
 */
export function nodeConfig(s: LxdNodeSpec): { config: Record<string, string>; devices: Record<string, Record<string, string>> } {
  const raw = [
    `lxc.uts.name = ${s.hostname}`,
    ...(s.systemd ? ['lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=755,create=dir 0 0'] : []),
    'lxc.mount.entry = tmpfs run/rig tmpfs rw,nosuid,nodev,size=16m,create=dir 0 0',
    `lxc.init.cmd = /.rig/bin/sh /.rig/bin/${s.systemd ? 'rig-init' : 'rig-agent'}`,
    // systemd halts on SIGRTMIN+3; the agent alone releases its lease on SIGTERM (LXD asks with SIGPWR)
    `lxc.signal.halt = ${s.systemd ? 'SIGRTMIN+3' : 'SIGTERM'}`,
    `lxc.console.logfile = ${s.consoleLog}`,
    `lxc.console.size = ${LOG_FILE_MB}MB`, // rotated as an LXC node's (see lxc/config.ts)
    'lxc.console.rotate = 1',
  ];
  const config: Record<string, string> = {
    'raw.lxc': `${raw.join('\n')}\n`,
    'security.privileged': String(s.privileged),
    'boot.autostart': 'false', // a daemon that restarts brings no rig node back by itself: the rig may be gone
    ...Object.fromEntries(Object.entries(s.env).map(([key, value]) => [`environment.${key}`, value])),
  };
  const devices = {
    eth0: { type: 'nic', nictype: 'bridged', parent: s.bridge, name: 'eth0', hwaddr: s.mac, host_name: s.hostInterface },
    rig: { type: 'disk', source: s.toolsDir, path: '/.rig', readonly: 'true' },
    repo: { type: 'disk', source: s.repoDir, path: s.repoMount, readonly: 'true' },
  };
  return { config, devices };
}
