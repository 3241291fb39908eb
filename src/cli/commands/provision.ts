import { listNodes } from '../../engine/nodes.js';
import { factAccess, withFacts } from '../../engine/status.js';
import { provisionNodes, provisionPassed, type ProvisionResult } from '../../engine/provision.js';
import { ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { namesNode } from '../../plan/plan.js';
import { printable, printableLines } from '../../printable.js';
import { loadRigFile } from '../../rigfile/load.js';
import type { Engine } from '../../engine/context.js';
import { createEngine } from '../engine.js';
import { note, warn } from '../output.js';
import { whichRig } from '../which-rig.js';
import { mirroring, noSuchNode } from './node.js';

export interface ProvisionFlags {
  name?: string;
  mirrors?: string;
  idempotent?: boolean;
  json?: boolean;
}

/**
 * rig provision [NODE... | --mirrors LIVE]: run the nodes' steps again in the rig that is up (edits to the rig file's
 * directory are seen at once: it is mounted), then their validate commands; one line per node; exit 1 if any failed.
 */
export async function provision(names: string[], flags: ProvisionFlags): Promise<void> {
  if (names.length && flags.mirrors)
    throw new RigError(
      'Name the nodes, or --mirrors LIVE, not both.',
      'rig provision barn mill, or rig provision --mirrors straleb.prod.example',
      ExitCode.badInput,
    );
  const engine = await createEngine();
  const rig = await whichRig(engine, flags.name);
  const all = await listNodes(engine, rig);
  if (!all.length) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig ls', ExitCode.badInput);
  const chosen = flags.mirrors
    ? mirroring(all, flags.mirrors, rig)
    : names.length
      ? [...new Set(names.map((n) => all.find((i) => namesNode(n, i.node)) ?? throwNoSuchNode(n, rig, all)))]
      : all;
  const stopped = chosen.find((n) => !n.running);
  if (stopped)
    throw new RigError(
      `${stopped.node} is not running.`,
      `start it again (docker start ${stopped.name}), or bring the rig up anew`,
      ExitCode.badInput,
    );
  // A node that failed may be provisioned again (an edit may have fixed it): allowed, and said.
  const stages = await factAccess(engine, rig)
    .then((access) => withFacts(access, (f) => f.rigState(rig)))
    .catch(() => undefined); // its etcd down: the steps will say so
  for (const n of chosen) {
    const stage = stages?.get(n.node)?.stage;
    if (stage?.startsWith('failed')) note(`${n.node} failed before (${printable(stage)}); provisioning it again`);
  }
  const results = await provisionNodes(engine, chosen, {
    idempotent: !!flags.idempotent,
    needs: await needsOf(engine, rig),
    started: (node) => note(`${node}: provisioning${flags.idempotent ? ' (twice: the second run must change nothing)' : ''}`),
  });
  if (flags.json) console.log(JSON.stringify(results, null, 2));
  else printResults(results);
  process.exitCode = results.every(provisionPassed) ? ExitCode.ok : ExitCode.failed;
}

function throwNoSuchNode(name: string, rig: string, all: Array<{ rig: string; node: string }>): never {
  throw noSuchNode(name, rig, all);
}

/** What each node needs, from the rig file the rig came from; without it (moved, now invalid), no order. */
async function needsOf(engine: Engine, rig: string): Promise<Map<string, string[]>> {
  const [network] = await engine.runtime.networks(rig);
  const file = network?.labels[Label.rigFile];
  try {
    return new Map(loadRigFile(file!, { name: rig }).nodes.map((n) => [n.name, n.needs.map((d) => d.node)]));
  } catch (err) {
    warn(
      `the rig file ${file ?? '(unknown)'} cannot be read now (${(err as Error).message.split('\n')[0]}): nodes are provisioned all at once`,
    );
    return new Map();
  }
}

function printResults(results: ProvisionResult[]): void {
  const width = Math.max(...results.map((r) => r.node.length));
  for (const r of results) {
    const checks = r.checks.length ? `, validate ${r.checks.filter((c) => c.passed).length}/${r.checks.length} passed` : '';
    const verdict = r.exitCode === 0 ? `provisioned in ${r.seconds.toFixed(1)} s${checks}` : `FAILED: ${printable(r.failure ?? '')}`;
    console.log(`${r.node.padEnd(width)}  ${verdict}`);
  }
  for (const r of results.filter((x) => !provisionPassed(x))) {
    if (r.exitCode !== 0 && r.output)
      console.log(`\n${r.node}: its output ends:\n${printableLines(r.output.trimEnd().split('\n').slice(-15).join('\n'))}`);
    for (const c of r.checks.filter((x) => !x.passed))
      console.log(`\n${r.node}: ${printable(c.command)} exited ${c.exitCode}:\n${printableLines(c.output.trimEnd())}`);
  }
  const failed = results.filter((r) => !provisionPassed(r)).length;
  console.log(`\n${results.length - failed} provisioned and valid, ${failed} failed`);
}
