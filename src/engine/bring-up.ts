import { hostname } from 'node:os';
import type { Engine } from './context.js';
import { destroyRig } from './down.js';
import { preloadKeeper } from './keeper.js';
import { liveNamesInConfigs, unmappedWarnings } from './fidelity.js';
import { armReaper, type Reaper } from './reaper.js';
import { takenDownError } from './taken-down.js';
import { upSteps } from './up.js';
import { interruptedError, type Interrupts, type Reporter } from './reporter.js';
import { planRig, type Plan } from '../plan/plan.js';
import { loadRigFile } from '../rigfile/load.js';
import { readProductionFacts } from '../rigfile/production-facts.js';
import { NodeNotReady, RigError } from '../errors.js';

export interface UpRig {
  engine: Engine;
  plan: Plan;
  reaper: Reaper;
  interrupts: Interrupts;
  /** Take the rig down and disarm the reaper. */
  down(): Promise<void>;
}

export interface BringUpOptions {
  name?: string; // the rig's name (else the rig file's)
  timeoutMs: number;
  wait?: boolean; // for every node to be ready (default)
  keepOnFailure?: boolean;
  idempotent?: boolean;
  /** Start the rig's keeper once it is up (a node or the sidecar that restarts is wired again). */
  keeper: boolean;
  /** The command that brings the rig up again, as the user would type it (named in what a failure says). */
  upAgain: string;
  /** The caller's own check of the plan, before anything is armed or made. */
  check?: (plan: Plan) => void;
}

/**
 * Bring a rig up, guarded: a reaper removes it if this process dies before it is done, an interrupt (the
 * reporter's) stops the steps and removes what was made, and a failure removes it unless keepOnFailure. Every
 * argument is checked first: nothing is armed or made for a rig file with a mistake in it. Returns with the reaper
 * still armed and the interrupts still caught: the caller decides whether the rig stays, and releases them.
 */
export async function bringUp(
  rigFile: string,
  connect: () => Promise<Engine>,
  options: BringUpOptions,
  reporter: Reporter,
): Promise<UpRig> {
  const plan = planRig(loadRigFile(rigFile, { name: options.name }));
  options.check?.(plan);
  const production = rigFileWarnings(plan, reporter);
  const interrupts = reporter.interrupts();
  try {
    const engine = await connect();
    if (interrupts.signal) throw interruptedError(`nothing of rig ${plan.name} was made`);
    const reaper = armReaper(plan.name);
    const keeper = options.keeper ? preloadKeeper(plan.name) : undefined;
    const run = upSteps(engine, plan, {
      timeoutMs: options.timeoutMs,
      wait: options.wait !== false,
      owner: `${hostname()}:${process.pid}`,
      madeNetwork: reaper.network,
      claimed: reaper.claimed,
      productionFacts: production.facts,
      idempotent: !!options.idempotent,
    });
    interrupts.on(() => {
      reporter.warn(`interrupted; removing what was made of rig ${plan.name} (Ctrl-C again to leave at once)`);
      run.abort(interruptedError(`rig ${plan.name} was removed`));
    });
    try {
      await reporter.runSteps(run.steps);
      run.done();
      await run.stopRecording();
      // From now on, a node or the sidecar that restarts is wired again. A keeper that does not start leaves the rig
      // up and working: say so, and the next `up` starts one.
      if (keeper) await keeper.start().catch((err: Error) => reporter.warn(err.message));
    } catch (err) {
      keeper?.cancel();
      // An interrupt or the deadline stops every step: say that, not what it made fail. An engine that went away is
      // the engine's failure, not a bug of rig's.
      const reason = run.abortReason() ?? engine.rigs.engineStopped(err, plan.name) ?? err;
      const removed = await run.cleanup(!!options.keepOnFailure && !interrupts.signal, reason).catch((cleanupErr: Error) => {
        // The reaper, still armed, tries again when this process ends. An engine that went away: that says it all.
        if (engine.rigs.engineStopped(reason)) throw reason;
        throw new RigError(
          `${(reason as Error).message}\nThen removing what was made of rig ${plan.name} failed: ${cleanupErr.message}`,
          'remove it with: rig down --name ' + plan.name,
        );
      });
      reaper.disarm();
      if (removed === 'kept') reporter.warn(`kept the failed rig; remove it with: rig down --name ${plan.name}`);
      if (interrupts.signal) {
        throw interruptedError(removed === 'rig' ? `rig ${plan.name} was removed` : `nothing of rig ${plan.name} was left`);
      }
      // Whatever failed, failed because the rig went under it: say that, and advise nothing about what is gone.
      if (removed === 'gone') throw takenDownError(plan.name, 'bringing it up', options.upAgain, reason);
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

/** Warn of what the rig file asks that will not work as asked; returns the production facts it names. */
export function rigFileWarnings(plan: Plan, reporter: Pick<Reporter, 'warn'>): ReturnType<typeof readProductionFacts> {
  const production = readProductionFacts(plan.spec);
  for (const warning of [...plan.spec.warnings, ...production.warnings, ...unmappedWarnings(liveNamesInConfigs(plan.spec))]) {
    reporter.warn(warning);
  }
  return production;
}
