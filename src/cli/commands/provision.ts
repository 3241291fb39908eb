import { listNodes } from '../../engine/nodes.js';
import { factAccess, withFacts } from '../../engine/status.js';
import { NOT_RUN, provisionNodes, provisionPassed, type ProvisionResult } from '../../engine/provision.js';
import { NodeRuns } from '../../engine/node-runs.js';
import { catchInterrupts, interruptedError, type Caught } from '../interrupts.js';
import { ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { namesNode, nodeSettingsHash } from '../../plan/plan.js';
import { printable, printableLines } from '../../printable.js';
import { loadRigFile } from '../../rigfile/load.js';
import { runsOnHost } from '../../rigfile/steps.js';
import type { Engine } from '../../engine/context.js';
import type { NodeInstance } from '../../runtime/backend.js';
import type { NodeSpec, ProvisionStep } from '../../rigfile/types.js';
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
  const interrupts = catchInterrupts();
  try {
    await provisionCaught(names, flags, interrupts);
  } finally {
    interrupts.release();
  }
}

async function provisionCaught(names: string[], flags: ProvisionFlags, interrupts: Caught): Promise<void> {
  const engine = await createEngine();
  const rig = await whichRig(engine, flags.name);
  const [all, { needs, steps, specs, unreadable }] = await Promise.all([listNodes(engine, rig), fromRigFile(engine, rig)]);
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
  if (unreadable) warn(unreadable);
  // Ansible steps run from the host, as the rig file has them: for the nodes still made with its settings (others'
  // are refused at once: their steps are not known). Their ansible-playbook starts now, while the rest gets ready.
  const unknown = chosen.filter((n) => !steps(n)).map((n) => ({ name: n.node, roles: [], mirrors: n.mirrors, provision: undefined }));
  const hostSteps = [...[...specs.values()].filter((s) => !unknown.some((u) => u.name === s.name)), ...unknown];
  const served = chosen.map((n) => n.node);
  const ahead = hostSteps.some((s) => served.includes(s.name) && runsOnHost(s.provision))
    ? (await import('../../engine/host-steps.js')).playbooksAhead(hostSteps, served, flags.idempotent ? 2 : 1)
    : undefined;
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
    needs,
    runs: new NodeRuns(engine, interrupts.signal),
    hostSteps,
    ahead,
    started: (node) => note(`${node}: provisioning${flags.idempotent ? ' (twice: the second run must change nothing)' : ''}`),
    finished: (r) => note(`${r.fqdn}: ${provisionPassed(r) ? 'provisioned and valid' : 'failed'} after ${r.seconds.toFixed(1)} s`),
  });
  // --idempotent: what the second run of each node that passed shows, by its steps.
  const second = new Map(
    flags.idempotent
      ? results.filter((r) => r.exitCode === 0).map((r) => [r.fqdn, secondRun(steps(chosen.find((n) => n.node === r.fqdn)!))])
      : [],
  );
  if (flags.json)
    console.log(
      JSON.stringify(
        results.map((r) => ({ ...r, ...(second.has(r.fqdn) && { secondRun: second.get(r.fqdn) }) })),
        null,
        2,
      ),
    );
  else printResults(results, second);
  process.exitCode = results.every(provisionPassed) ? ExitCode.ok : ExitCode.failed;
  if (interrupts.which) {
    const which = (keep: (r: ProvisionResult) => boolean) =>
      results
        .filter(keep)
        .map((r) => r.fqdn)
        .join(', ') || 'none';
    throw interruptedError(
      `provisioned: ${which(provisionPassed)}; ended: ${which((r) => r.exitCode === 130)}; not run: ${which((r) => r.failure === NOT_RUN)}`,
    );
  }
}

function throwNoSuchNode(name: string, rig: string, all: Array<{ rig: string; node: string }>): never {
  throw noSuchNode(name, rig, all);
}

/**
 * From the rig file the rig came from: what each node needs (without the file, moved or now invalid: no order), and
 * a node's steps, if the file still has the settings the node was made with (the steps it runs).
 */
async function fromRigFile(
  engine: Engine,
  rig: string,
): Promise<{
  needs: Map<string, string[]>;
  steps: (node: NodeInstance) => ProvisionStep[] | undefined;
  specs: Map<string, NodeSpec>;
  unreadable?: string; // the warning, when the rig file cannot be read
}> {
  const [network] = await engine.rigs.networks(rig);
  const file = network?.labels[Label.rigFile];
  try {
    const specs = new Map(loadRigFile(file!, { name: rig }).nodes.map((n) => [n.name, n]));
    return {
      specs,
      needs: new Map([...specs.values()].map((n) => [n.name, n.needs.map((d) => d.node)])),
      steps: (node) => {
        const spec = specs.get(node.node);
        return spec && node.settings === nodeSettingsHash(spec) ? spec.provision : undefined;
      },
    };
  } catch (err) {
    const unreadable = `the rig file ${file ?? '(unknown)'} cannot be read now (${(err as Error).message.split('\n')[0]}): nodes are provisioned all at once`;
    return { needs: new Map(), steps: () => undefined, specs: new Map(), unreadable };
  }
}

/**
 * What a second run that succeeded shows: it changed nothing when every step can say it changed something (Puppet by
 * its exit code, a shell or script step by its changed_exit); a step that cannot only had to succeed, and the line
 * says so. Without the node's steps (its rig file changed since), only that it succeeded.
 */
export function secondRun(steps: ProvisionStep[] | undefined): string {
  if (!steps) return 'second run succeeded';
  const name = (s: ProvisionStep, i: number) => `step ${i + 1}/${steps.length} (${s.kind})`;
  const tells = (s: ProvisionStep) => s.kind === 'puppet' || s.kind === 'ansible' || s.changedExit !== undefined;
  const blind = steps.map((s, i) => (tells(s) ? '' : name(s, i))).filter(Boolean);
  if (!blind.length) return 'second run changed nothing';
  const told = steps.map((s, i) => (tells(s) ? name(s, i) : '')).filter(Boolean);
  const cannot = `${blind.join(', ')} cannot tell whether ${blind.length > 1 ? 'they' : 'it'} changed anything: no changed_exit`;
  return `second run succeeded (${told.length ? `${told.join(', ')} changed nothing; ` : ''}${cannot})`;
}

function printResults(results: ProvisionResult[], second: Map<string, string>): void {
  const width = Math.max(...results.map((r) => r.fqdn.length));
  for (const r of results) {
    const checks = r.checks.length ? `, validate ${r.checks.filter((c) => c.passed).length}/${r.checks.length} passed` : '';
    const again = second.has(r.fqdn) ? `, ${second.get(r.fqdn)}` : '';
    const verdict =
      r.exitCode === 0 ? `provisioned in ${r.seconds.toFixed(1)} s${again}${checks}` : `FAILED: ${printable(r.failure ?? '')}`;
    console.log(`${r.fqdn.padEnd(width)}  ${verdict}`);
  }
  for (const r of results.filter((x) => !provisionPassed(x))) {
    if (r.exitCode !== 0 && r.output)
      console.log(`\n${r.fqdn}: its output ends:\n${printableLines(r.output.trimEnd().split('\n').slice(-15).join('\n'))}`);
    for (const c of r.checks.filter((x) => !x.passed))
      console.log(`\n${r.fqdn}: ${printable(c.command)} exited ${c.exitCode}:\n${printableLines(c.output.trimEnd())}`);
  }
  const failed = results.filter((r) => !provisionPassed(r)).length;
  console.log(`\n${results.length - failed} provisioned and valid, ${failed} failed`);
}
