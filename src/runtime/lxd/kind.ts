import type { BackendDeclaration } from '../kind.js';

/**
 * Containers of an LXD daemon on this host, over its REST API: LXD puts each node's NIC on the rig bridge itself, on
 * every start. Its instance names are LXD's own (no dots), never a Docker container's nor an LXC node's.
 */
export const lxdKind = {
  kind: 'lxd',
  nodeNames: 'rig-<rig>-<node>-<digest>',
  namesInEngine: false,
  ansibleConnection: 'community.general.lxd',
  // its init's namespaces entered from this host: 2.7 times as fast as `lxc exec` per module here (README, Ansible)
  ansibleConnectionByPid: 'community.docker.nsenter',
  segment: 'lxd',
  wiredByHost: false,
} as const satisfies BackendDeclaration;
