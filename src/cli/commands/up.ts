import { realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Engine } from '../../engine/context.js';
import { destroyRig } from '../../engine/down.js';
import { startKeeper } from '../../engine/keeper.js';
import { restoreRig } from '../../engine/restore.js';
import { liveNamesInConfigs } from '../../engine/fidelity.js';
import { unmappedWarnings } from './check.js';
import { readProductionFacts } from '../../rigfile/production-facts.js';
import { armReaper, type Reaper } from '../../engine/reaper.js';
import { factAccess, rigStatus, withFacts } from '../../engine/status.js';
import { alreadyUp, mayBeTakenDown, removeStragglers, takenDown, takenDownError, upSteps } from '../../engine/up.js';
import { ownerAlive } from '../../engine/owner.js';
import { planRig, type Plan } from '../../plan/plan.js';
import { loadRigFile } from '../../rigfile/load.js';
import type { RigContainer } from '../../runtime/docker/containers.js';
import { createEngine } from '../engine.js';
import { engineStopped } from '../../runtime/docker/connect.js';
import { outputMode, runSteps, type OutputMode } from '../progress.js';
import { parseDuration } from '../table.js';
import { note, warn } from '../output.js';
import {
  canReconcile,
  describeDiff,
  diffRig,
  reconcileSteps,
  rigChangeWords,
  sameRig,
  type RigDiff,
  type RunningRig,
} from '../../engine/reconcile.js';
import { listNodes } from '../../engine/nodes.js';
import { Label } from '../../labels.js';
import { ExitCode, NodeNotReady, RigError } from '../../errors.js';
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

export interface UpRig {
  engine: Engine;
  plan: Plan;
  reaper: Reaper;
  interrupts: Interrupts;
  /** Take the rig down and disarm the reaper. */
  down(): Promise<void>;
}

/**
 * SIGINT and SIGTERM while `up` or `run` works: the first calls the listeners (which stop what is going on
 * and clean up); a second leaves at once, and the reaper, still armed, finishes.
 */
export class Interrupts {
  private listeners: Array<(signal: NodeJS.Signals) => void> = [];
  signal?: NodeJS.Signals;

  constructor() {
    process.on('SIGINT', this.handle);
    process.on('SIGTERM', this.handle);
  }

  private handle = (signal: NodeJS.Signals) => {
    if (this.signal) process.exit(ExitCode.interrupted);
    this.signal = signal;
    for (const listener of this.listeners) listener(signal);
  };

  on(listener: (signal: NodeJS.Signals) => void): void {
    this.listeners.push(listener);
    if (this.signal) listener(this.signal);
  }

  release(): void {
    process.off('SIGINT', this.handle);
    process.off('SIGTERM', this.handle);
  }
}

export const interruptedError = (what: string) => new RigError(`Interrupted; ${what}.`, undefined, ExitCode.interrupted);

/** The command that brings the rig up again, as the user named its file and its name. */
const upAgain = (rigFile: string, flags: { name?: string }) => `rig up ${rigFile}${flags.name ? ` --name ${flags.name}` : ''}`;

/**
 * Bring a rig up with progress, guarded: a reaper removes it if this process dies before it is done, Ctrl-C
 * stops the steps and removes what was made (a second Ctrl-C leaves at once, and the reaper finishes), and a
 * failure removes it unless --keep-on-failure. Every argument is checked first (`check` for the caller's own):
 * nothing is armed or made for a command line with a mistake in it. Returns with the reaper still armed and
 * the interrupts still caught: the caller decides whether the rig stays, and releases them.
 */
export async function bringUp(
  rigFile: string,
  flags: UpFlags,
  check: (plan: Plan) => void = () => {},
  mode = outputMode(!!flags.json),
): Promise<UpRig> {
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  const plan = planRig(loadRigFile(rigFile, { name: flags.name }));
  check(plan);
  const production = rigFileWarnings(plan);
  const interrupts = new Interrupts();
  try {
    const engine = await createEngine();
    if (interrupts.signal) throw interruptedError(`nothing of rig ${plan.name} was made`);
    const reaper = armReaper(plan.name);
    const run = upSteps(engine, plan, {
      timeoutMs,
      wait: flags.wait !== false,
      owner: `${hostname()}:${process.pid}`,
      madeNetwork: reaper.network,
      claimed: reaper.claimed,
      productionFacts: production.facts,
      idempotent: !!flags.idempotent,
    });
    interrupts.on(() => {
      warn(`interrupted; removing what was made of rig ${plan.name} (Ctrl-C again to leave at once)`);
      run.abort(interruptedError(`rig ${plan.name} was removed`));
    });
    try {
      await runSteps(run.steps, mode);
      run.done();
      await run.stopRecording();
      // From now on, a node or the sidecar that restarts is wired again. A keeper that does not start leaves the rig
      // up and working: say so, and the next `up` starts one.
      await startKeeper(plan.name).catch((err: Error) => warn(err.message));
    } catch (err) {
      // An interrupt or the deadline stops every step: say that, not what it made fail. An engine that went away is
      // the engine's failure, not a bug of rig's.
      const reason = run.abortReason() ?? engineStopped(err, plan.name) ?? err;
      const removed = await run.cleanup(!!flags.keepOnFailure && !interrupts.signal, reason).catch((cleanupErr: Error) => {
        // The reaper, still armed, tries again when this process ends. An engine that went away: that says it all.
        if (engineStopped(reason)) throw reason;
        throw new RigError(
          `${(reason as Error).message}\nThen removing what was made of rig ${plan.name} failed: ${cleanupErr.message}`,
          'remove it with: rig down --name ' + plan.name,
        );
      });
      reaper.disarm();
      if (removed === 'kept') warn(`kept the failed rig; remove it with: rig down --name ${plan.name}`);
      if (interrupts.signal) {
        throw interruptedError(removed === 'rig' ? `rig ${plan.name} was removed` : `nothing of rig ${plan.name} was left`);
      }
      // Whatever failed, failed because the rig went under it: say that, and advise nothing about what is gone.
      if (removed === 'gone') throw takenDownError(plan.name, 'bringing it up', upAgain(rigFile, flags), reason);
      // The hint fits what is left: a removed rig has no node to look at.
      if (reason instanceof NodeNotReady && removed !== 'kept') {
        throw reason.withHint(
          `rig ${plan.name} was removed, nothing of it is left; to look at the failed node, run it again with --keep-on-failure, then: rig logs NODE`,
        );
      }
      throw reason;
    } finally {
      run.facts()?.close();
    }
    return {
      engine,
      plan,
      reaper,
      interrupts,
      async down() {
        await destroyRig(engine, plan.name);
        reaper.disarm();
      },
    };
  } catch (err) {
    interrupts.release();
    throw err;
  }
}

/**
 * `up` of a rig that is up: compare the rig file with what runs and print the plan. Nothing changed: say so and
 * show it. Only nodes changed: apply just that (reconcile). With --recreate the rig goes for the up that follows
 * (false: bring it up). True: the rig is up and matches. A rig brought up from another rig file is refused,
 * --recreate or not: it is someone else's.
 */
async function upToDate(rigFile: string, flags: UpFlags): Promise<boolean> {
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  const plan = planRig(loadRigFile(rigFile, { name: flags.name }));
  const engine = await createEngine();
  let found = await findRig(engine, plan, rigFile);
  if (!found) return false;
  // A rig stopped by a Docker daemon restart, or left without its keeper: back first, then compared.
  const restored = await restoreRig(engine, plan.name, timeoutMs);
  if (restored.length) {
    note(`rig ${plan.name}: ${restored.join('; ')}`);
    found = (await findRig(engine, plan, rigFile)) ?? found;
  }
  if (flags.recreate && !sameRig(found.diff)) {
    note(`rig ${plan.name} differs from ${rigFile}; recreating it:`);
    describeDiff(found.diff).forEach((line) => note(`  ${line}`));
    await destroyRig(engine, plan.name);
    return false;
  }
  const diff = await applyRigFile(engine, plan, found, { ...flags, timeoutMs, file: rigFile }, outputMode(!!flags.json));
  const status = (await rigStatus(engine, plan.name)).find((r) => r.name === plan.name);
  // Taken down after the changes were made (or with nothing to change): there is no rig to show.
  if (!status || (await rigGone(engine, plan.name, false))) {
    throw takenDownError(plan.name, 'changing it', upAgain(rigFile, flags));
  }
  printStatus([status], !!flags.json);
  note(`rig ${plan.name} is up and matches ${rigFile}${sameRig(diff) ? ': nothing to do' : ''}`);
  return true;
}

type FoundRig = { diff: RigDiff; running: Omit<RunningRig, 'sidecar'> };

/**
 * The rig of the plan's name that is up, and how the plan differs from it; undefined if none is up. A rig brought
 * up from another rig file than the plan's (`named`: as the user named it) is an error: it is not this file's to
 * change or to replace.
 */
export async function findRig(engine: Engine, plan: Plan, named: string): Promise<FoundRig | undefined> {
  const [network] = await engine.runtime.networks(plan.name);
  if (!network) return undefined;
  if (ownerAlive(network.labels)) throw alreadyUp(plan.name); // an up or a run of it is still at work
  checkSameFile(plan, network.labels[Label.rigFile], named);
  const nodes = await listNodes(engine, plan.name);
  const stages = await factAccess(engine, plan.name)
    .then((access) => withFacts(access, async (f) => new Map([...(await f.rigState(plan.name))].map(([n, s]) => [n, s.stage ?? '']))))
    .catch(() => undefined); // a sidecar that is down: --recreate, or the reconcile's own check, says so
  const diff = diffRig(plan, { settings: network.labels[Label.spec], rigSettings: network.labels[Label.settings], nodes, stages });
  return { diff, running: { network, nodes } };
}

/** A rig that is up from `madeFrom` (its network's io.rig.file) may be changed by up of that file only. */
function checkSameFile(plan: Plan, madeFrom: string | undefined, named: string): void {
  const real = (path: string) => {
    try {
      return realpathSync(path);
    } catch {
      return path;
    }
  };
  if (!madeFrom || madeFrom === plan.spec.file || real(madeFrom) === real(plan.spec.file)) return;
  throw new RigError(
    `Rig ${plan.name} is up, brought up from another rig file: ${madeFrom}. rig up of ${named} does not change or replace a rig made from another file, not even with --recreate.`,
    `to bring ${named} up as ${plan.name}, take that rig down first (rig down --name ${plan.name}), then run this again; or give this one another name with --name`,
    ExitCode.badInput,
  );
}

/**
 * Why `up` will not change the rig that is up in place, if it will not: the rig itself changed (its domain,
 * network, config trees or production facts), or its sidecar cannot take a reconcile. The error shows the plan.
 */
export function refusal(plan: Plan, diff: RigDiff, sidecar: RigContainer | undefined, file: string): RigError | undefined {
  if (!diff.rigChanged && sidecar && sidecar.state === 'running' && canReconcile(sidecar)) return undefined;
  const why = diff.rigChanged
    ? diff.rigChanges
      ? `The rig itself changed (${rigChangeWords(diff)}): that is a new rig.`
      : 'Its domain, network, config trees or production facts changed: that is a new rig.'
    : sidecar?.state === 'running'
      ? 'Its sidecar was made by an earlier rig, which cannot change the nodes of a rig that is up.'
      : `Its sidecar (dnsmasq and etcd) is ${sidecar?.state ?? 'missing'}.`;
  return new RigError(
    `Rig ${plan.name} is up, and ${file} differs from it:\n${describeDiff(diff)
      .map((l) => `  ${l}`)
      .join('\n')}\n${why}`,
    `recreate the whole rig with: rig up ${file} --recreate (rig down, then rig up), or give this one another name with --name`,
    ExitCode.badInput,
  );
}

/**
 * Make the rig that is up match the plan, when only its nodes differ: print the plan, then apply it. When the rig
 * itself changed (its domain, network or config trees), exit 2 with the plan, touching nothing. Returns the diff.
 */
export async function applyRigFile(
  engine: Engine,
  plan: Plan,
  found: FoundRig | undefined,
  flags: { timeoutMs: number; idempotent?: boolean; file?: string },
  mode: OutputMode,
): Promise<RigDiff> {
  const file = flags.file ?? plan.spec.file; // as the user named it
  const { diff, running } = found ?? (await findRig(engine, plan, file)) ?? {};
  if (!diff || !running) throw new RigError(`No rig named ${plan.name} is up.`, `bring it up with: rig up ${file}`, ExitCode.badInput);
  if (sameRig(diff)) return diff;
  const sidecar = (await engine.runtime.containers(plan.name)).find((c) => c.role === 'sidecar');
  const refused = refusal(plan, diff, sidecar, file);
  if (refused || !sidecar) throw refused;
  if (mode !== 'quiet') {
    note(`rig ${plan.name} differs from ${file}; changing only that:`);
    describeDiff(diff).forEach((line) => note(`  ${line}`));
  }
  await reconcile(engine, plan, diff, { ...running, sidecar }, flags, mode);
  return diff;
}

/**
 * Apply a reconcile with progress; a failure or Ctrl-C leaves the rig up as far as it got, and says how to go on.
 * A rig taken down meanwhile (rig down) is not up as far as anything: that is said instead, and what the reconcile
 * made after the down is removed.
 */
async function reconcile(
  engine: Engine,
  plan: Plan,
  diff: RigDiff,
  rig: RunningRig,
  flags: { timeoutMs: number; idempotent?: boolean; file?: string },
  mode: OutputMode,
): Promise<void> {
  const file = flags.file ?? plan.spec.file;
  const production = rigFileWarnings(plan);
  const interrupts = new Interrupts();
  const run = reconcileSteps(engine, plan, diff, rig, {
    timeoutMs: flags.timeoutMs,
    owner: `${hostname()}:${process.pid}`,
    productionFacts: production.facts,
    idempotent: !!flags.idempotent,
  });
  interrupts.on(() => {
    warn(`interrupted; stopping the changes to rig ${plan.name} (Ctrl-C again to leave at once)`);
    run.abort(interruptedError(`rig ${plan.name} stays up as far as the changes got; rig up ${file} again finishes them`));
  });
  let failure: unknown;
  try {
    await runSteps(run.steps, mode);
  } catch (err) {
    failure = run.abortReason() ?? err;
  } finally {
    await run.settle(); // what is being made exists from here on
    interrupts.release();
  }
  if (failure === undefined) return;
  if (await takenDown(engine, plan.name, { network: rig.network, sidecar: rig.sidecar.id }, mayBeTakenDown(failure))) {
    await removeStragglers(engine, plan.name, rig.network);
    if (interrupts.signal) throw interruptedError(`rig ${plan.name} was taken down meanwhile; nothing of it is left`);
    throw takenDownError(plan.name, 'changing it', `rig up ${file}`, failure);
  }
  const onward = `rig ${plan.name} stays up as far as the changes got: fix the rig file or the node, then rig up ${file} again (it makes again the nodes that are not ready), or rig down --name ${plan.name}`;
  if (failure instanceof NodeNotReady) throw failure.withHint(`look at it with: rig logs ${failure.node} --name ${plan.name}; ${onward}`);
  if (failure instanceof RigError && !failure.hint) throw new RigError(failure.message, onward, failure.exitCode, { cause: failure });
  throw failure;
}

/** Warn of what the rig file asks that will not work as asked; returns the production facts it names. */
export function rigFileWarnings(plan: Plan): ReturnType<typeof readProductionFacts> {
  const production = readProductionFacts(plan.spec);
  for (const warning of [...plan.spec.warnings, ...production.warnings, ...unmappedWarnings(liveNamesInConfigs(plan.spec))]) {
    warn(warning);
  }
  return production;
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
      if (!(await rigGone(rig.engine, rig.plan.name, true))) throw err; // the reaper, still armed, removes the rig
      await tidyAfterDown(rig);
      throw takenDownError(rig.plan.name, 'bringing it up', upAgain(rigFile, flags), err);
    });
    if (rig.interrupts.signal) {
      await rig.down();
      throw interruptedError(`rig ${rig.plan.name} was removed`);
    }
    if (!status) {
      await tidyAfterDown(rig);
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

/**
 * The rig this up brought up was taken down meanwhile: once its network is gone, remove what the down did not see
 * (by the rig's label: the name is still this up's) and stand the reaper down; else the reaper finishes.
 */
async function tidyAfterDown(rig: UpRig): Promise<void> {
  if ((await rig.engine.runtime.networks(rig.plan.name)).length) return;
  await destroyRig(rig.engine, rig.plan.name);
  rig.reaper.disarm();
}

/** Whether the rig of that name is gone, or going (see takenDown): no network, or no sidecar, of its name. */
async function rigGone(engine: Engine, rig: string, suspect: boolean): Promise<boolean> {
  const [[network], containers] = await Promise.all([engine.runtime.networks(rig), engine.runtime.containers(rig)]);
  const sidecar = containers.find((c) => c.role === 'sidecar');
  return !network || !sidecar || takenDown(engine, rig, { network, sidecar: sidecar.id }, suspect);
}
