import { lstatSync, readlinkSync } from 'node:fs';
import { sep } from 'node:path';
import type { Engine } from '../../engine/context.js';
import { listNodes } from '../../engine/nodes.js';
import { provisionNodes, provisionPassed } from '../../engine/provision.js';
import { ExitCode, RigError, RigFileError } from '../../errors.js';
import { Label } from '../../labels.js';
import { affectedBy } from '../../plan/affected.js';
import { planRig, type Plan } from '../../plan/plan.js';
import { printable } from '../../printable.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { note, verbose, warn } from '../output.js';
import { whichRig } from '../which-rig.js';
import { describeDiff, sameRig } from '../../engine/reconcile.js';
import { applyRigFile } from '../../engine/apply.js';
import { cliReporter } from '../progress.js';
import { validateNode } from '../../engine/validate.js';
import { watchTrees, type TreeChange } from '../watch-tree.js';
import { failureDetail, printVerdict, resultText, type Trigger } from '../watch-verdict.js';

/** How long a burst of file events (an editor's save: write, rename, chmod) settles before it counts as one change. */
const DEBOUNCE_MS = 120;

export interface WatchFlags {
  name?: string;
  json?: boolean;
}

/**
 * rig watch: follow the rig file's directory and every config tree by file-system events (inotify, no polling),
 * and on each change provision and validate the nodes it affects (a live node's config: the nodes mirroring it; a
 * file a step uses: those nodes; any other file: all), one verdict line per change, naming each file and what it
 * is to the rig. Left out: what git ignores, editors' temporaries, and what rig writes itself (its output, the links
 * it makes). A rig file that becomes invalid is reported at its line and the rig stays as it is. Runs until Ctrl-C
 * (or `signal`).
 */
export async function watchRig(flags: WatchFlags, signal?: AbortSignal): Promise<void> {
  const engine = await createEngine();
  const rig = await whichRig(engine, flags.name);
  const [network] = await engine.rigs.networks(rig);
  const file = network?.labels[Label.rigFile];
  if (!file)
    throw new RigError(
      `No rig named ${rig} is up.`,
      'bring it up with: rig up RIGFILE --watch, or see the rigs with: rig ls',
      ExitCode.badInput,
    );
  let plan = planRig(loadRigFile(file, { name: rig }));
  const dirs = [
    plan.spec.dir,
    ...plan.spec.configs.map((c) => c.dir).filter((d) => !d.startsWith(plan.spec.dir + sep) && d !== plan.spec.dir),
  ];
  const links = new RigLinks(plan);

  let running = Promise.resolve();
  const onChange = async ({ changed, ignored }: TreeChange) => {
    for (const i of ignored) verbose(`left out: ${i.path} (${i.why})`);
    const paths = changed.filter((p) => !links.made(plan, p));
    if (!paths.length) return;
    const at = new Date();
    if (paths.some((p) => affectedBy(plan, p).kind === 'rigfile')) {
      const triggers = paths.map((p) => trigger(plan, p));
      let edited: Plan;
      try {
        edited = planRig(loadRigFile(file, { name: rig }));
      } catch (err) {
        const why = err instanceof RigFileError ? err.message : (err as Error).message;
        return printVerdict(at, plan.spec.dir, triggers, `the rig file is not valid; the rig stays as it was:\n${why}`, false);
      }
      plan = edited;
      links.add(plan);
      return reconcileAndJudge(engine, plan, at, triggers);
    }
    const triggers = paths.map((p) => trigger(plan, p));
    const nodes = [...new Set(triggers.flatMap((t) => t.nodes))];
    if (!nodes.length) return printVerdict(at, plan.spec.dir, triggers, 'affects no node', undefined);
    await provisionAndJudge(engine, rig, nodes, at, triggers, plan);
  };

  const watching = await watchTrees(dirs, {
    settleMs: DEBOUNCE_MS,
    onChange: (change) => {
      running = running.then(() => onChange(change)).catch((err: Error) => warn(err.message));
    },
    onWarning: warn,
  });
  // Said once every directory is watched: an edit from now on is seen.
  const left = watching.gitIgnores ? 'leaving out what git ignores; ' : '';
  note(`watching ${dirs.join(', ')} for rig ${rig} (${left}Ctrl-C to stop)`, { watching: dirs });
  // Until Ctrl-C, or until the rig is taken down (its network goes: Docker's event): then there is nothing to judge
  // edits against, and the watch says so instead of passing every edit.
  let ended = false;
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  signal?.addEventListener('abort', () => stop(), { once: true });
  const stopFollowing = await engine.rigs.watchStarts(
    rig,
    network.id,
    () => {}, // a node that starts changes nothing to judge: its edits are judged as they come
    () => {
      ended = true;
      stop();
    },
  );
  await stopped;
  stopFollowing();
  watching.close();
  await running;
  if (!ended) return;
  if (!(await engine.rigs.networks(rig)).length) {
    throw new RigError(`Rig ${rig} was taken down; rig watch stops.`, `bring it up again with: rig up ${file} --watch`, ExitCode.failed);
  }
  throw new RigError(
    `The Docker engine's events stopped (rig ${rig} is still there); rig watch stops.`,
    'check that dockerd runs (docker info), then rig watch again',
    ExitCode.failed,
  );
}

/** What a changed file is to the rig, and the nodes it sends to provisioning. */
function trigger(plan: Plan, path: string): Trigger {
  const affected = affectedBy(plan, path);
  return affected.kind === 'rigfile' ? { path, why: 'the rig file', nodes: [] } : { path, why: affected.why, nodes: affected.nodes };
}

/**
 * The links rig makes for the nodes mirroring live nodes (`up`, and a rig file edit that adds or removes a node):
 * rig's own doing, not an edit. A link as planned, or one of an earlier plan that is gone, is left out; a link a user
 * changed (replaced by a file, pointed elsewhere) is a change.
 */
class RigLinks {
  private readonly ever = new Set<string>();

  constructor(plan: Plan) {
    this.add(plan);
  }

  add(plan: Plan): void {
    for (const l of plan.links) this.ever.add(l.path);
  }

  made(plan: Plan, path: string): boolean {
    if (!this.ever.has(path)) return false;
    const planned = plan.links.find((l) => l.path === path);
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (!planned) return !stat;
    return !!stat?.isSymbolicLink() && readlinkSync(path) === planned.target;
  }
}

/** A rig file that changed: apply the changes to the rig (as `rig up` of it would) and judge the nodes it started. */
async function reconcileAndJudge(engine: Engine, plan: Plan, at: Date, triggers: Trigger[]): Promise<void> {
  const dir = plan.spec.dir;
  try {
    const diff = await applyRigFile(engine, plan, undefined, { timeoutMs: RECONCILE_TIMEOUT_MS }, cliReporter('quiet'));
    if (sameRig(diff)) return printVerdict(at, dir, triggers, 'the rig already matches the rig file', undefined);
    const started = new Set([...diff.added, ...diff.changed, ...diff.broken]);
    const nodes = (await listNodes(engine, plan.name)).filter((n) => started.has(n.node));
    const failed = (await Promise.all(nodes.map((n) => validateNode(engine, n)))).flat().filter((c) => !c.passed);
    const checks = failed.length ? `; validate FAIL (${printable(failed.map((c) => `${c.fqdn}: ${c.command}`).join(', '))})` : '';
    printVerdict(at, dir, triggers, `applied: ${describeDiff(diff).join(', ')}${checks}`, !failed.length);
  } catch (err) {
    printVerdict(at, dir, triggers, `applying the rig file failed: ${(err as Error).message}`, false);
  }
}

/** How long the nodes a changed rig file starts have to become ready (rig up's default --timeout). */
const RECONCILE_TIMEOUT_MS = 5 * 60_000;

async function provisionAndJudge(engine: Engine, rig: string, nodes: string[], at: Date, triggers: Trigger[], plan: Plan): Promise<void> {
  const instances = (await listNodes(engine, rig)).filter((n) => nodes.includes(n.node));
  const needs = new Map(plan.nodes.map((n) => [n.spec.name, n.spec.needs.map((d) => d.node)]));
  const results = await provisionNodes(engine, instances, { idempotent: false, needs, hostSteps: plan.nodes.map((n) => n.spec) });
  const passed = results.every(provisionPassed);
  printVerdict(at, plan.spec.dir, triggers, results.map(resultText).join(', '), passed, results, failureDetail(results));
}
