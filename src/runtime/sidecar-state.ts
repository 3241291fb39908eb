import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Label } from '../labels.js';
import { NODES_CONF, reservedInConf } from '../plan/sidecar.js';

// A sidecar's state on this host (etcd's data, dnsmasq's leases and its nodes' config), whatever runs the sidecar:
// the Docker engine (bind mounts) or the local LXD daemon (disk devices). Found by the sidecar's io.rig.state label.

/** The addresses the sidecar's config reserves, by MAC; undefined for a sidecar made before the config was a file. */
export function reservedAddresses(labels: Record<string, string>): Map<string, string> | undefined {
  const path = join(labels[Label.state] ?? '', NODES_CONF);
  if (!labels[Label.state] || !existsSync(path)) return undefined;
  return reservedInConf(readFileSync(path, 'utf8'));
}

/**
 * Where a sidecar keeps etcd's data and dnsmasq's leases: on the host's tmpfs, as fast as the container's own, but
 * outliving a restart of the sidecar, so a rig keeps its facts and leases. One directory per sidecar, named on
 * its label; `down` removes it.
 */
export const SIDECAR_STATE_ROOT = '/dev/shm/rig';

export function removeSidecarState(labels: Record<string, string>): void {
  const state = labels[Label.state];
  if (state && dirname(state) === SIDECAR_STATE_ROOT) rmSync(state, { recursive: true, force: true });
}
