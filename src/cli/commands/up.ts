import { bringUp as bringUpRig, type UpRig } from '../../engine/bring-up.js';
import { destroyRig } from '../../engine/down.js';
import { factAccess, rigStatus, withFacts } from '../../engine/status.js';
import { takenDownError } from '../../engine/taken-down.js';
import { interruptedError } from '../../engine/reporter.js';
import { parseDuration } from '../../duration.js';
import { planRig, type Plan } from '../../plan/plan.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { cliReporter, outputMode, type OutputMode } from '../progress.js';
import { note } from '../output.js';
import { printStatus } from './status.js';

export interface UpFlags {
  name?: string;
  timeout: string;
  wait?: boolean;
  keepOnFailure?: boolean;
  idempotent?: boolean;
  watch?: boolean;
  recreate?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** Up of a rig that is up (compare, reconcile), loaded only then: a first up has no use for it. */
const applying = () => import('../../engine/apply.js');

/** The command that brings the rig up again, as the user named its file and its name. */
const upAgain = (rigFile: string, flags: { name?: string }) => `rig up ${rigFile}${flags.name ? ` --name ${flags.name}` : ''}`;

/**
 * Bring a rig up with progress (see the engine's bringUp): Ctrl-C stops the steps and removes what was made (a
 * second Ctrl-C leaves at once, and the reaper finishes). `check` is the caller's own check of the plan. Returns
 * with the reaper still armed and the interrupts still caught: the caller decides whether the rig stays.
 */
export async function bringUp(
  rigFile: string,
  flags: UpFlags,
  check: (plan: Plan) => void = () => {},
  mode: OutputMode = outputMode(!!flags.json),
): Promise<UpRig> {
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  return bringUpRig(
    rigFile,
    createEngine,
    {
      name: flags.name,
      timeoutMs,
      wait: flags.wait,
      keepOnFailure: flags.keepOnFailure,
      idempotent: flags.idempotent,
      keeper: true,
      upAgain: upAgain(rigFile, flags),
      check,
    },
    cliReporter(mode),
  );
}

/**
 * `up` of a rig that is up: compare the rig file with what runs and print the plan. Nothing changed: say so and
 * show it. Only nodes changed: apply just that (reconcile). With --recreate the rig goes for the up that follows
 * (false: bring it up). True: the rig is up and matches.
 */
async function upToDate(rigFile: string, flags: UpFlags): Promise<boolean> {
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  const plan = planRig(loadRigFile(rigFile, { name: flags.name }));
  const engine = await createEngine();
  engine.rigs.place?.(plan.name, plan.segment); // a rig on LXD is looked for there (segments.ts)
  if (!(await engine.rigs.networks(plan.name)).length) return false;
  const [{ changeIfUp }, { sameRig }] = await Promise.all([applying(), import('../../engine/reconcile.js')]);
  const options = { timeoutMs, recreate: flags.recreate, idempotent: flags.idempotent, upAgain: upAgain(rigFile, flags) };
  const changed = await changeIfUp(engine, plan, rigFile, options, cliReporter(outputMode(!!flags.json)));
  if (!changed) return false;
  printStatus([changed.status], !!flags.json);
  note(`rig ${plan.name} is up and matches ${rigFile}${sameRig(changed.diff) ? ': nothing to do' : ''}`);
  return true;
}

export async function up(rigFile: string, flags: UpFlags): Promise<void> {
  if (flags.dryRun) return (await import('./dry-run.js')).dryRun(rigFile, flags);
  if (await upToDate(rigFile, flags)) return;
  const rig = await bringUp(rigFile, flags);
  try {
    // The rig now belongs to its user: mark it kept (rig gc leaves it) and stand the reaper down.
    const kept = factAccess(rig.engine, rig.plan.name).then((access) =>
      withFacts(access, (f) => f.setMark(rig.plan.name, 'kept', new Date().toISOString())),
    );
    const [[status]] = await Promise.all([rigStatus(rig.engine, rig.plan.name), kept]).catch(async (err: unknown) => {
      const { rigGone, tidyAfterDown } = await applying();
      if (!(await rigGone(rig.engine, rig.plan.name, true))) throw err; // the reaper, still armed, removes the rig
      await tidyAfterDown(rig);
      throw takenDownError(rig.plan.name, 'bringing it up', upAgain(rigFile, flags), err);
    });
    if (rig.interrupts.signal) {
      await rig.down();
      throw interruptedError(`rig ${rig.plan.name} was removed`);
    }
    if (!status) {
      await (await applying()).tidyAfterDown(rig);
      throw takenDownError(rig.plan.name, 'bringing it up', upAgain(rigFile, flags));
    }
    rig.reaper.disarm();
    printStatus([status], !!flags.json);
    if (!flags.watch) note(`rig ${rig.plan.name} is up; remove it with: rig down --name ${rig.plan.name}`);
  } finally {
    rig.interrupts.release();
  }
  if (flags.watch) {
    // Started by up --watch: the rig goes when the watching does.
    try {
      await (await import('./rig-watch.js')).watchRig({ name: rig.plan.name, json: flags.json });
    } finally {
      await destroyRig(rig.engine, rig.plan.name);
      note(`rig ${rig.plan.name} was removed`);
    }
  }
}
