import type { Checker } from './checker.js';
import type { PathSeg } from './positions.js';
import type { RawLxd } from './schema.js';
import type { BackendKind, LxdSpec, NodeSpec } from './types.js';

// What load.ts makes of lxd: (schema-lxd.ts has its shape): the rig's remote and project with their lines, and each
// LXD node's target. Whether LXD knows them is asked only by `up` (runtime/lxd/place.ts), which names these lines.

/** The rig's lxd: as the spec keeps it, with its lines. */
export function lxdSpec(c: Checker, lxd: RawLxd): LxdSpec {
  const line = (key: 'remote' | 'project') => (lxd[key] === undefined ? {} : { [key]: c.line(['lxd', key]) });
  return {
    ...(lxd.remote !== undefined && { remote: lxd.remote }),
    ...(lxd.project !== undefined && { project: lxd.project }),
    lines: { lxd: c.line(['lxd']), ...line('remote'), ...line('project') },
  };
}

/** An LXD node's member (its own lxd.target, else the rig-wide one); a node of another backend may not name one. */
export function nodeTarget(
  c: Checker,
  settings: { backend?: BackendKind; lxd?: { target?: string } },
  p: PathSeg[],
  rig: { backend: BackendKind; target?: string; targetLine?: number },
): Pick<NodeSpec, 'target' | 'targetLine'> {
  const backend = settings.backend ?? rig.backend;
  const own = settings.lxd?.target;
  if (own !== undefined && backend !== 'lxd') {
    const hint = `remove it, or make the node an LXD node (backend: lxd); a ${backend} node runs on this host`;
    c.report([...p, 'lxd', 'target'], `this node's backend is ${backend}: only an LXD node goes on a cluster member`, hint);
    return {};
  }
  if (backend !== 'lxd') return {};
  if (own !== undefined) return { target: own, targetLine: c.line([...p, 'lxd', 'target']) };
  return rig.target === undefined ? {} : { target: rig.target, targetLine: rig.targetLine };
}
