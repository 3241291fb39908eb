import { realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Engine } from './context.js';
import { destroyRig } from './down.js';
import { restoreRig } from './restore.js';
import { factAccess, rigStatus, withFacts, type RigStatus } from './status.js';
import { alreadyUp, mayBeTakenDown, removeStragglers, takenDown, takenDownError } from './taken-down.js';
import { ownerAlive } from './owner.js';
import { rigFileWarnings } from './bring-up.js';
import { interruptedError, type Reporter } from './reporter.js';
import {
  canReconcile,
  describeDiff,
  diffRig,
  reconcileSteps,
  rigChangeWords,
  sameRig,
  type RigDiff,
  type RunningRig,
} from './reconcile.js';
import { listNodes } from './nodes.js';
import type { Plan } from '../plan/plan.js';
import type { RigContainer, RigNetwork } from '../runtime/runtime.js';
import type { NodeInstance } from '../runtime/backend.js';
import { Label } from '../labels.js';
import { ExitCode, NodeNotReady, RigError } from '../errors.js';

/**
 * `up` of a rig file whose rig is up: the rig compared with the file. A rig stopped by an engine restart, or left
 * without its keeper, is brought back first. Nothing changed: nothing is done. Only nodes changed: just that is
 * applied (a reconcile). `recreate`: a rig that differs is taken down for the up that follows. Resolves to the rig's
 * status when it is up and matches, undefined when it is to be brought up. A rig brought up from another rig file is
 * refused, recreate or not: it is someone else's.
 */
export async function changeIfUp(
  engine: Engine,
  plan: Plan,
  file: string,
  options: { timeoutMs: number; recreate?: boolean; idempotent?: boolean; upAgain: string },
  reporter: Reporter,
): Promise<{ status: RigStatus; diff: RigDiff } | undefined> {
  let found = await findRig(engine, plan, file);
  if (!found) return undefined;
  const restored = await restoreRig(engine, plan.name, options.timeoutMs);
  if (restored.length) {
    reporter.note(`rig ${plan.name}: ${restored.join('; ')}`);
    found = (await findRig(engine, plan, file)) ?? found;
  }
  if (options.recreate && !sameRig(found.diff)) {
    reporter.note(`rig ${plan.name} differs from ${file}; recreating it:`);
    describeDiff(found.diff).forEach((line) => reporter.note(`  ${line}`));
    await destroyRig(engine, plan.name);
    return undefined;
  }
  const diff = await applyRigFile(engine, plan, found, { ...options, file }, reporter);
  const status = (await rigStatus(engine, plan.name)).find((r) => r.name === plan.name);
  // Taken down after the changes were made (or with nothing to change): there is no rig to show.
  if (!status || (await rigGone(engine, plan.name, false))) throw takenDownError(plan.name, 'changing it', options.upAgain);
  return { status, diff };
}

type FoundRig = { diff: RigDiff; running: Omit<RunningRig, 'sidecar'> };

/**
 * The rig of the plan's name that is up, and how the plan differs from it; undefined if none is up. A rig brought
 * up from another rig file than the plan's (`named`: as the user named it) is an error: it is not this file's to
 * change or to replace.
 */
export async function findRig(engine: Engine, plan: Plan, named: string): Promise<FoundRig | undefined> {
  const [network] = await engine.rigs.networks(plan.name);
  if (!network) return undefined;
  if (ownerAlive(network.labels)) throw alreadyUp(plan.name); // an up or a run of it is still at work
  checkSameFile(plan, network.labels[Label.rigFile], named);
  // a sidecar that is down: --recreate, or the reconcile's own check, says so
  const { diff, nodes } = await diffRunning(engine, plan, network, { sidecarMayBeDown: true });
  return { diff, running: { network, nodes } };
}

/**
 * How the plan differs from its rig's network and nodes as they run, with each node's stage from the rig's facts
 * (unknown where the sidecar is down and `sidecarMayBeDown`; else that is an error).
 */
export async function diffRunning(
  engine: Engine,
  plan: Plan,
  network: RigNetwork,
  { sidecarMayBeDown }: { sidecarMayBeDown: boolean },
): Promise<{ diff: RigDiff; nodes: NodeInstance[] }> {
  const nodes = await listNodes(engine, plan.name);
  const stages = await factAccess(engine, plan.name)
    .then((access) => withFacts(access, async (f) => new Map([...(await f.rigState(plan.name))].map(([n, s]) => [n, s.stage ?? '']))))
    .catch((err: unknown) => {
      if (sidecarMayBeDown) return undefined;
      throw err;
    });
  const diff = diffRig(plan, {
    settings: network.labels[Label.spec],
    rigSettings: network.labels[Label.settings],
    nodes,
    stages,
    segment: network.segment ?? 'docker',
  });
  return { diff, nodes };
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
export function refusal(engine: Engine, plan: Plan, diff: RigDiff, sidecar: RigContainer | undefined, file: string): RigError | undefined {
  if (!diff.rigChanged && sidecar && sidecar.state === 'running' && canReconcile(engine, sidecar)) return undefined;
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
 * Make the rig that is up match the plan, when only its nodes differ: say the plan (a note), then apply it. When the
 * rig itself changed (its domain, network or config trees), exit 2 with the plan, touching nothing. Returns the diff.
 */
export async function applyRigFile(
  engine: Engine,
  plan: Plan,
  found: FoundRig | undefined,
  flags: { timeoutMs: number; idempotent?: boolean; file?: string },
  reporter: Reporter,
): Promise<RigDiff> {
  const file = flags.file ?? plan.spec.file; // as the user named it
  const { diff, running } = found ?? (await findRig(engine, plan, file)) ?? {};
  if (!diff || !running) throw new RigError(`No rig named ${plan.name} is up.`, `bring it up with: rig up ${file}`, ExitCode.badInput);
  if (sameRig(diff)) return diff;
  const sidecar = (await engine.rigs.containers(plan.name)).find((c) => c.role === 'sidecar');
  const refused = refusal(engine, plan, diff, sidecar, file);
  if (refused || !sidecar) throw refused;
  reporter.note(`rig ${plan.name} differs from ${file}; changing only that:`);
  describeDiff(diff).forEach((line) => reporter.note(`  ${line}`));
  await reconcile(engine, plan, diff, { ...running, sidecar }, flags, reporter);
  return diff;
}

/**
 * Apply a reconcile; a failure or an interrupt leaves the rig up as far as it got, and says how to go on. A rig
 * taken down meanwhile (rig down) is not up as far as anything: that is said instead, and what the reconcile made
 * after the down is removed.
 */
export async function reconcile(
  engine: Engine,
  plan: Plan,
  diff: RigDiff,
  rig: RunningRig,
  flags: { timeoutMs: number; idempotent?: boolean; file?: string; newAddress?: string[] },
  reporter: Reporter,
): Promise<void> {
  const file = flags.file ?? plan.spec.file;
  const production = rigFileWarnings(plan, reporter);
  const interrupts = reporter.interrupts();
  const run = reconcileSteps(engine, plan, diff, rig, {
    timeoutMs: flags.timeoutMs,
    owner: `${hostname()}:${process.pid}`,
    productionFacts: production.facts,
    idempotent: !!flags.idempotent,
    newAddress: flags.newAddress,
  });
  interrupts.on(() => {
    reporter.warn(`interrupted; stopping the changes to rig ${plan.name} (Ctrl-C again to leave at once)`);
    run.abort(interruptedError(`rig ${plan.name} stays up as far as the changes got; rig up ${file} again finishes them`));
  });
  let failure: unknown;
  try {
    await reporter.runSteps(run.steps);
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

/**
 * The rig an up brought up was taken down meanwhile: once its network is gone, remove what the down did not see
 * (by the rig's label: the name is still this up's) and stand the reaper down; else the reaper finishes.
 */
export async function tidyAfterDown(rig: { engine: Engine; plan: Plan; reaper: { disarm(): void } }): Promise<void> {
  if ((await rig.engine.rigs.networks(rig.plan.name)).length) return;
  await destroyRig(rig.engine, rig.plan.name);
  rig.reaper.disarm();
}

/** Whether the rig of that name is gone, or going (see takenDown): no network, or no sidecar, of its name. */
export async function rigGone(engine: Engine, rig: string, suspect: boolean): Promise<boolean> {
  const [[network], containers] = await Promise.all([engine.rigs.networks(rig), engine.rigs.containers(rig)]);
  const sidecar = containers.find((c) => c.role === 'sidecar');
  return !network || !sidecar || takenDown(engine, rig, { network, sidecar: sidecar.id }, suspect);
}
