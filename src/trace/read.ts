import type { Engine } from '../engine/context.js';
import { factAccess, withFacts } from '../engine/status.js';
import { buildTrace, type Trace } from './timeline.js';

/** A rig's trace, from what its etcd recorded (see facts/history.ts); exit 2 if no rig of that name is up. */
export async function readTrace(engine: Engine, rig: string): Promise<Trace> {
  return buildTrace(await withFacts(await factAccess(engine, rig), (f) => f.history(rig)));
}
