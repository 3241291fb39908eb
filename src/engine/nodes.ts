import type { NodeInstance } from '../runtime/backend.js';
import type { Engine } from './context.js';

/**
 * Every node of a rig (of all rigs, without one), of every backend, in one stable order: by rig, then node name.
 * A backend that cannot list (LXC tools missing on a Docker-only host) lists nothing when `lenient`.
 */
export async function listNodes(engine: Engine, rig?: string, { lenient = false } = {}): Promise<NodeInstance[]> {
  const lists = await Promise.all(Object.values(engine.backends).map((b) => (lenient ? b.list(rig).catch(() => []) : b.list(rig))));
  return lists.flat().sort((a, b) => a.rig.localeCompare(b.rig) || a.node.localeCompare(b.node));
}
