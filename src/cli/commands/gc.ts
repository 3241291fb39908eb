import { ownerAlive } from '../../engine/owner.js';
import { destroyRig } from '../../engine/down.js';
import { factAccess, withFacts } from '../../engine/status.js';
import { errorMessage } from '../../errors.js';
import { Label } from '../../labels.js';
import { findRigNetworks } from '../../runtime/docker/network.js';
import { createEngine } from '../engine.js';

/**
 * rig gc: remove rigs whose owner died before it was done with them — an `up` that never finished, a `run`
 * whose process is gone — and whose reaper could not remove them. A rig `up` finished is the user's: kept.
 */
export async function gc(flags: { json?: boolean }): Promise<void> {
  const engine = await createEngine();
  const removed: string[] = [];
  const left: Array<{ rig: string; why: string }> = [];
  for (const network of await findRigNetworks(engine.docker)) {
    const rig = network.labels[Label.rig];
    if (ownerAlive(network.labels)) continue;
    let kept: string | null;
    try {
      kept = await withFacts(await factAccess(engine, rig), (f) => f.mark(rig, 'kept'));
    } catch (err) {
      // A mark that cannot be read may be there: only a rig known not to be kept is removed.
      left.push({ rig, why: `cannot tell whether it is kept: ${errorMessage(err)}` });
      continue;
    }
    if (kept) continue;
    await destroyRig(engine, rig);
    removed.push(rig);
  }
  if (flags.json) console.log(JSON.stringify({ removed, left }));
  else {
    console.log(removed.length ? `removed ${removed.length} abandoned rig(s): ${removed.join(', ')}` : 'no abandoned rig');
    for (const { rig, why } of left)
      console.log(`left rig ${rig}, whose owner is gone: ${why} (remove it yourself with: rig down --name ${rig})`);
  }
}
