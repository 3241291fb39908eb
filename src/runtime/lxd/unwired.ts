import { ExitCode, RigError } from '../../errors.js';
import type { Plan } from '../../plan/plan.js';
import { DEFAULT_PROJECT } from './places.js';
import type { LxdRemote } from './remotes.js';

/**
 * What up cannot make yet (`up --dry-run` still shows where nodes would go). On a remote, the rig's network and
 * sidecar are made there too, and the sidecar's state (etcd's socket for this host, its leases), rig's tools, the
 * repository and the console logs are disks of this host's files: a remote whose members do not see them (members
 * on other hosts) would need etcd through LXD's exec and the tools in the image (docs/multi-host.md), not built.
 */
export function refuseUnwired(plan: Plan, remote: LxdRemote, project: string, options: { socket: string; sharedFiles?: boolean }): void {
  const { spec } = plan;
  const lines = { ...spec.lxd?.lines };
  const at = `${spec.file}:${lines.remote ?? lines.lxd ?? 1}: lxd.remote`;
  const later = 'docs/multi-host.md says what is left of issue 24';
  const refuse = (what: string, how: string, line = at) => new RigError(`${line}: ${what}`, `${how} (${later})`, ExitCode.badInput);
  if (remote.where !== options.socket) {
    const where = `${remote.where} (remote ${remote.name})`;
    if (plan.segment !== 'lxd')
      throw refuse(
        `rig cannot bring LXD nodes up on ${where} in a rig with nodes of other backends: their network is on this host, and a node there would have no way onto it.`,
        "give every node backend: lxd, or leave lxd.remote out to use this host's LXD daemon",
      );
    if (!options.sharedFiles)
      throw refuse(
        `rig can bring a rig up on ${where} only where its members see this host's files at the same paths (the sidecar's state and etcd's socket, rig's tools, the repository, the console logs are disks of them), and nothing says they do.`,
        'for members on this host (scripts/lxd-test-cluster), set RIG_LXD_SHARED_FILES=1; members on other hosts are not served yet. rig up --dry-run shows where the nodes would go',
      );
    if (!spec.network.internal)
      throw refuse(
        `a rig on ${where} must be internal for now: its bridge spans the members and none of them routes it out.`,
        'set network: { internal: true } in the rig file',
      );
  }
  if (plan.segment === 'lxd' && project !== DEFAULT_PROJECT)
    throw refuse(
      `a rig of LXD nodes only is made in LXD's default project for now (its bridge and sidecar are), not in ${project}.`,
      "leave lxd.project out, or give the rig a Docker node (its network is then Docker's)",
      `${spec.file}:${lines.project ?? lines.lxd ?? 1}: lxd.project`,
    );
}
