import { removeAbandoned } from '../../engine/down.js';
import { factAccess, withFacts } from '../../engine/status.js';
import { createEngine } from '../engine.js';

/**
 * rig gc: remove rigs whose owner died before it was done with them — an `up` that never finished, a `run`
 * whose process is gone — and whose reaper could not remove them. A rig `up` finished is the user's: kept.
 */
export async function gc(flags: { json?: boolean }): Promise<void> {
  const engine = await createEngine();
  const isKept = async (rig: string) => !!(await withFacts(await factAccess(engine, rig), (f) => f.mark(rig, 'kept')));
  const { removed, left } = await removeAbandoned(engine, isKept);
  if (flags.json) console.log(JSON.stringify({ removed, left }));
  else {
    console.log(removed.length ? `removed ${removed.length} abandoned rig(s): ${removed.join(', ')}` : 'no abandoned rig');
    for (const { rig, why } of left)
      console.log(`left rig ${rig}, whose owner is gone: ${why} (remove it yourself with: rig down --name ${rig})`);
  }
}
