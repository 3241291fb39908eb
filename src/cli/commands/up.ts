import { hostname } from 'node:os';
import type { Engine } from '../../engine/context.js';
import { destroyRig } from '../../engine/down.js';
import { startKeeper } from '../../engine/keeper.js';
import { liveNamesInConfigs } from '../../engine/fidelity.js';
import { unmappedWarnings } from './check.js';
import { readProductionFacts } from '../../rigfile/production-facts.js';
import { armReaper, type Reaper } from '../../engine/reaper.js';
import { factAccess, rigStatus, withFacts } from '../../engine/status.js';
import { alreadyUp, upSteps } from '../../engine/up.js';
import { ownerAlive } from '../../engine/owner.js';
import { planRig, type Plan } from '../../plan/plan.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { outputMode, runSteps, type OutputMode } from '../progress.js';
import { parseDuration } from '../table.js';
import { note, warn } from '../output.js';
import { canReconcile, describeDiff, diffRig, reconcileSteps, sameRig, type RigDiff, type RunningRig } from '../../engine/reconcile.js';
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
      startKeeper(plan.name); // from now on, a node or the sidecar that restarts is wired again
    } catch (err) {
      // An interrupt or the deadline stops every step: say that, not what it made fail.
      const reason = run.abortReason() ?? err;
      const removed = await run.cleanup(!!flags.keepOnFailure && !interrupts.signal).catch((cleanupErr: Error) => {
        // The reaper, still armed, tries again when this process ends.
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
 * (false: bring it up). True: the rig is up and matches.
 */
async function upToDate(rigFile: string, flags: UpFlags): Promise<boolean> {
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  const plan = planRig(loadRigFile(rigFile, { name: flags.name }));
  const engine = await createEngine();
  const found = await findRig(engine, plan);
  if (!found) return false;
  if (flags.recreate && !sameRig(found.diff)) {
    note(`rig ${plan.name} differs from ${rigFile}; recreating it:`);
    describeDiff(found.diff).forEach((line) => note(`  ${line}`));
    await destroyRig(engine, plan.name);
    return false;
  }
  const diff = await applyRigFile(engine, plan, found, { ...flags, timeoutMs, file: rigFile }, outputMode(!!flags.json));
  printStatus(await rigStatus(engine, plan.name), !!flags.json);
  note(`rig ${plan.name} is up and matches ${rigFile}${sameRig(diff) ? ': nothing to do' : ''}`);
  return true;
}

/** The rig of the plan's name that is up, and how the plan differs from it; undefined if none is up. */
async function findRig(engine: Engine, plan: Plan): Promise<{ diff: RigDiff; running: Omit<RunningRig, 'sidecar'> } | undefined> {
  const [network] = await engine.runtime.networks(plan.name);
  if (!network) return undefined;
  if (ownerAlive(network.labels)) throw alreadyUp(plan.name); // an up or a run of it is still at work
  const nodes = await listNodes(engine, plan.name);
  const stages = await factAccess(engine, plan.name)
    .then((access) => withFacts(access, async (f) => new Map([...(await f.rigState(plan.name))].map(([n, s]) => [n, s.stage ?? '']))))
    .catch(() => undefined); // a sidecar that is down: --recreate, or the reconcile's own check, says so
  return { diff: diffRig(plan, { settings: network.labels[Label.spec], nodes, stages }), running: { network, nodes } };
}

/**
 * Make the rig that is up match the plan, when only its nodes differ: print the plan, then apply it. When the rig
 * itself changed (its domain, network or config trees), exit 2 with the plan, touching nothing. Returns the diff.
 */
export async function applyRigFile(
  engine: Engine,
  plan: Plan,
  found: { diff: RigDiff; running: Omit<RunningRig, 'sidecar'> } | undefined,
  flags: { timeoutMs: number; idempotent?: boolean; file?: string },
  mode: OutputMode,
): Promise<RigDiff> {
  const file = flags.file ?? plan.spec.file; // as the user named it
  const { diff, running } = found ?? (await findRig(engine, plan)) ?? {};
  if (!diff || !running) throw new RigError(`No rig named ${plan.name} is up.`, `bring it up with: rig up ${file}`, ExitCode.badInput);
  if (sameRig(diff)) return diff;
  const lines = describeDiff(diff);
  const sidecar = (await engine.runtime.containers(plan.name)).find((c) => c.role === 'sidecar');
  if (diff.rigChanged || !sidecar || sidecar.state !== 'running' || !canReconcile(sidecar)) {
    const why = diff.rigChanged
      ? 'Its domain, network, config trees or production facts changed: that is a new rig.'
      : sidecar?.state === 'running'
        ? 'Its sidecar was made by an earlier rig, which cannot change the nodes of a rig that is up.'
        : `Its sidecar (dnsmasq and etcd) is ${sidecar?.state ?? 'missing'}.`;
    throw new RigError(
      `Rig ${plan.name} is up, and ${file} differs from it:\n${lines.map((l) => `  ${l}`).join('\n')}\n${why}`,
      `recreate the whole rig with: rig up ${file} --recreate (rig down, then rig up), or give this one another name with --name`,
      ExitCode.badInput,
    );
  }
  if (mode !== 'quiet') {
    note(`rig ${plan.name} differs from ${file}; changing only that:`);
    lines.forEach((line) => note(`  ${line}`));
  }
  await reconcile(engine, plan, diff, { ...running, sidecar }, flags, mode);
  return diff;
}

/** Apply a reconcile with progress; a failure or Ctrl-C leaves the rig up as far as it got, and says how to go on. */
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
  try {
    await runSteps(run.steps, mode);
  } catch (err) {
    const reason = run.abortReason() ?? err;
    const onward = `rig ${plan.name} stays up as far as the changes got: fix the rig file or the node, then rig up ${file} again (it makes again the nodes that are not ready), or rig down --name ${plan.name}`;
    if (reason instanceof NodeNotReady) throw reason.withHint(`look at it with: rig logs ${reason.node} --name ${plan.name}; ${onward}`);
    if (reason instanceof RigError && !reason.hint) throw new RigError(reason.message, onward, reason.exitCode, { cause: reason });
    throw reason;
  } finally {
    await run.settle();
    interrupts.release();
  }
}

/** Warn of what the rig file asks that will not work as asked; returns the production facts it names. */
function rigFileWarnings(plan: Plan): ReturnType<typeof readProductionFacts> {
  const production = readProductionFacts(plan.spec);
  for (const warning of [...plan.spec.warnings, ...production.warnings, ...unmappedWarnings(liveNamesInConfigs(plan.spec))]) {
    warn(warning);
  }
  return production;
}

export async function up(rigFile: string, flags: UpFlags): Promise<void> {
  if (flags.dryRun) {
    parseDuration(flags.timeout, '--timeout');
    const plan = planRig(loadRigFile(rigFile, { name: flags.name }));
    plan.spec.warnings.forEach((w) => warn(w));
    console.log(JSON.stringify(plan, null, 2));
    return;
  }
  if (await upToDate(rigFile, flags)) return;
  const rig = await bringUp(rigFile, flags);
  try {
    // The rig now belongs to its user: mark it kept (rig gc leaves it) and stand the reaper down.
    const kept = factAccess(rig.engine, rig.plan.name).then((access) =>
      withFacts(access, (f) => f.setMark(rig.plan.name, 'kept', new Date().toISOString())),
    );
    const [[status]] = await Promise.all([rigStatus(rig.engine, rig.plan.name), kept]);
    if (rig.interrupts.signal) {
      await rig.down();
      throw interruptedError(`rig ${rig.plan.name} was removed`);
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
