import type { BackendDeclaration } from '../kind.js';

/** Docker containers on this host's Docker engine, beside the sidecar. */
export const dockerKind = {
  kind: 'docker',
  nodeNames: 'rig-<rig>.<node>',
  namesInEngine: true,
  ansibleConnection: 'community.docker.docker',
  ansibleConnectionByPid: 'community.docker.nsenter', // no `docker exec` per module: the fastest (README, Ansible)
  segment: 'docker',
  wiredByHost: true,
} as const satisfies BackendDeclaration;
