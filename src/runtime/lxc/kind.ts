import type { BackendDeclaration } from '../kind.js';

/** LXC system containers on this host (lxc-* tools, as root); LXC wires each node's veth itself, from its config. */
export const lxcKind = {
  kind: 'lxc',
  nodeNames: 'rig-<rig>.<node>',
  namesInEngine: false,
  ansibleConnection: 'community.general.lxc',
  ansibleVars: { ansible_pipelining: false }, // a module piped into lxc-attach does not run
  segment: 'docker',
  wiredByHost: false,
} as const satisfies BackendDeclaration;
