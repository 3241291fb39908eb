import { watch, type FSWatcher } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
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
import { note, outputSettings, warn } from '../output.js';
import { whichRig } from '../which-rig.js';
import { describeDiff, sameRig } from '../../engine/reconcile.js';
import { applyRigFile } from './up.js';
import { validateNode } from '../../engine/validate.js';

/** How long a burst of file events (an editor's save: write, rename, chmod) settles before it counts as one change. */
const DEBOUNCE_MS = 120;

export interface WatchFlags {
  name?: string;
  json?: boolean;
}

/**
 * rig watch: follow the rig file's directory and every config tree by file-system events (inotify, no polling),
 * and on each change provision and validate the nodes it affects (a live node's config: the nodes mirroring it; a
 * file a step uses: those nodes; any other file: all), one verdict line per change. A rig file that becomes invalid
 * is reported at its line and the rig stays as it is. Runs until Ctrl-C (or `signal`).
 */
export async function watchRig(flags: WatchFlags, signal?: AbortSignal): Promise<void> {
  const engine = await createEngine();
  const rig = await whichRig(engine, flags.name);
  const [network] = await engine.runtime.networks(rig);
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
  note(`watching ${dirs.join(', ')} for rig ${rig} (Ctrl-C to stop)`);

  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  const changed = (path: string) => {
    if (/(^|\/)(\.git|node_modules)(\/|$)|~$|\.sw[px]$/.test(path)) return; // VCS internals, editors' temporary files
    pending.add(path);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const paths = [...pending];
      pending.clear();
      running = running.then(() => onChange(paths)).catch((err: Error) => warn(err.message));
    }, DEBOUNCE_MS);
  };
  const onChange = async (changedPaths: string[]) => {
    const at = new Date();
    // A link rig made stands for its live node's file: report (and map) the file itself, once.
    const paths = [...new Set(changedPaths.map((p) => linkTarget(plan, p) ?? p))];
    if (paths.some((p) => affectedBy(plan, p).kind === 'rigfile')) {
      let edited: Plan;
      try {
        edited = planRig(loadRigFile(file, { name: rig }));
      } catch (err) {
        const why = err instanceof RigFileError ? err.message : (err as Error).message;
        return verdict(at, paths, plan, `the rig file is not valid; the rig stays as it was:\n${why}`, false);
      }
      plan = edited;
      return reconcileAndJudge(engine, plan, at, paths);
    }
    const nodes = [
      ...new Set(
        paths.flatMap((p) => {
          const a = affectedBy(plan, p);
          return a.kind === 'nodes' ? a.nodes : [];
        }),
      ),
    ];
    if (!nodes.length) return verdict(at, paths, plan, 'affects no node', undefined);
    await provisionAndJudge(engine, rig, nodes, at, paths, plan);
  };

  const watchers: FSWatcher[] = dirs.map((dir) =>
    watch(dir, { recursive: true }, (_event, name) => name && changed(`${dir}${sep}${name}`)),
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
    watchers.forEach((w) => w.on('error', (err) => (warn(`watching stopped: ${err.message}`), resolve())));
  });
  watchers.forEach((w) => w.close());
  clearTimeout(timer);
  await running;
}

/** A rig file that changed: apply the changes to the rig (as `rig up` of it would) and judge the nodes it started. */
async function reconcileAndJudge(engine: Engine, plan: Plan, at: Date, paths: string[]): Promise<void> {
  try {
    const diff = await applyRigFile(engine, plan, undefined, { timeoutMs: RECONCILE_TIMEOUT_MS }, 'quiet');
    if (sameRig(diff)) return verdict(at, paths, plan, 'the rig already matches the rig file', undefined);
    const started = new Set([...diff.added, ...diff.changed, ...diff.broken]);
    const nodes = (await listNodes(engine, plan.name)).filter((n) => started.has(n.node));
    const failed = (await Promise.all(nodes.map((n) => validateNode(engine, n)))).flat().filter((c) => !c.passed);
    const checks = failed.length ? `; validate FAIL (${printable(failed.map((c) => `${c.node}: ${c.command}`).join(', '))})` : '';
    verdict(at, paths, plan, `applied: ${describeDiff(diff).join(', ')}${checks}`, !failed.length);
  } catch (err) {
    verdict(at, paths, plan, `applying the rig file failed: ${(err as Error).message}`, false);
  }
}

/** How long the nodes a changed rig file starts have to become ready (rig up's default --timeout). */
const RECONCILE_TIMEOUT_MS = 5 * 60_000;

function linkTarget(plan: Plan, path: string): string | undefined {
  const link = plan.links.find((l) => l.path === path);
  return link && resolve(dirname(link.path), link.target);
}

async function provisionAndJudge(engine: Engine, rig: string, nodes: string[], at: Date, paths: string[], plan: Plan): Promise<void> {
  const instances = (await listNodes(engine, rig)).filter((n) => nodes.includes(n.node));
  const needs = new Map(plan.nodes.map((n) => [n.spec.name, n.spec.needs.map((d) => d.node)]));
  const results = await provisionNodes(engine, instances, { idempotent: false, needs });
  const failed = results.filter((r) => !provisionPassed(r));
  const detail = results
    .map(
      (r) =>
        `${r.node} ${
          provisionPassed(r)
            ? 'pass'
            : `FAIL (${printable(
                r.failure ??
                  r.checks
                    .filter((c) => !c.passed)
                    .map((c) => c.command)
                    .join(', '),
              )})`
        }`,
    )
    .join(', ');
  verdict(at, paths, plan, detail, failed.length === 0, results);
}

function verdict(at: Date, paths: string[], plan: Plan, text: string, passed: boolean | undefined, results?: unknown): void {
  const seconds = (Date.now() - at.getTime()) / 1000;
  const what = paths.map((p) => relative(plan.spec.dir, p) || p).join(', ');
  if (outputSettings().json) {
    console.log(
      JSON.stringify({ time: new Date().toISOString(), changed: paths, passed: passed ?? null, seconds, verdict: text, results }),
    );
    return;
  }
  const mark = passed === undefined ? '-' : passed ? 'PASS' : 'FAIL';
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${mark} ${printable(what)}: ${text} (${seconds.toFixed(2)} s)`);
}
