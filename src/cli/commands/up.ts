import { hostname } from 'node:os';
import type { Engine } from '../../engine/context.js';
import { destroyRig } from '../../engine/down.js';
import { armReaper, type Reaper } from '../../engine/reaper.js';
import { factAccess, rigStatus, withFacts } from '../../engine/status.js';
import { upSteps } from '../../engine/up.js';
import { planRig, type Plan } from '../../plan/plan.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { outputMode, runSteps } from '../progress.js';
import { parseDuration } from '../table.js';
import { ExitCode, RigError } from '../../errors.js';
import { printStatus } from './status.js';

export interface UpFlags {
  name?: string;
  timeout: string;
  wait?: boolean;
  keepOnFailure?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export interface UpRig {
  engine: Engine;
  plan: Plan;
  reaper: Reaper;
  /** Take the rig down and disarm the reaper. */
  down(): Promise<void>;
}

/**
 * Bring a rig up with progress, guarded: a reaper removes it if this process dies before it is done, Ctrl-C
 * removes what was made (a second Ctrl-C leaves at once, and the reaper finishes), and a failure removes it
 * unless --keep-on-failure. Returns with the reaper still armed: the caller decides whether the rig stays.
 */
export async function bringUp(rigFile: string, flags: UpFlags, mode = outputMode(!!flags.json)): Promise<UpRig> {
  const plan = planRig(loadRigFile(rigFile, { name: flags.name }));
  const engine = await createEngine();
  const reaper = armReaper(plan.name);
  const { steps, cleanup, madeAnything, facts } = upSteps(engine, plan, {
    timeoutMs: parseDuration(flags.timeout),
    keepOnFailure: !!flags.keepOnFailure,
    wait: flags.wait !== false,
    owner: `${hostname()}:${process.pid}`,
  });

  let interrupted: Promise<void> | undefined;
  const onSignal = () => {
    if (interrupted) process.exit(ExitCode.interrupted); // the reaper, still armed, removes the rig
    process.stderr.write(`\nrig: interrupted; removing rig ${plan.name} (Ctrl-C again to leave at once)\n`);
    interrupted = cleanup().then(() => reaper.disarm());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runSteps(steps, mode);
  } catch (err) {
    if (interrupted) {
      await interrupted;
      throw new RigError(`Interrupted; rig ${plan.name} was removed.`, undefined, ExitCode.interrupted);
    } else {
      await cleanup();
      reaper.disarm();
      if (flags.keepOnFailure && madeAnything()) process.stderr.write(`rig: kept the failed rig; remove it with: rig down --name ${plan.name}\n`);
    }
    throw err;
  } finally {
    await interrupted;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    facts()?.close();
  }
  if (interrupted) throw new RigError(`Interrupted; rig ${plan.name} was removed.`, undefined, ExitCode.interrupted);
  return {
    engine,
    plan,
    reaper,
    async down() {
      await destroyRig(engine, plan.name);
      reaper.disarm();
    },
  };
}

export async function up(rigFile: string, flags: UpFlags): Promise<void> {
  if (flags.dryRun) {
    console.log(JSON.stringify(planRig(loadRigFile(rigFile, { name: flags.name })), null, 2));
    return;
  }
  const rig = await bringUp(rigFile, flags);
  const [status] = await rigStatus(rig.engine, rig.plan.name);
  // The rig now belongs to its user: mark it kept (rig gc leaves it) and stand the reaper down.
  await withFacts(await factAccess(rig.engine, rig.plan.name), (f) => f.setMark(rig.plan.name, 'kept', new Date().toISOString()));
  rig.reaper.disarm();
  printStatus([status], !!flags.json);
  process.stderr.write(`rig ${rig.plan.name} is up; remove it with: rig down --name ${rig.plan.name}\n`);
}
