// `rig up --dry-run`: what `up` would do, as a person reads it or as JSON, touching nothing.
import { dirname, join, relative } from 'node:path';
import { describeDiff, sameRig, type RigDiff, type RunningRig } from '../../engine/reconcile.js';
import { ExitCode, RigError } from '../../errors.js';
import { planRig, summarizeNode, summarizePlan, startOrder, type NodeSummary, type Plan, type PlanSummary } from '../../plan/plan.js';
import { assignAddresses } from '../../plan/sidecar.js';
import { printable } from '../../printable.js';
import { loadRigFile } from '../../rigfile/load.js';
import type { ProvisionStep } from '../../rigfile/types.js';
import { reservedAddresses } from '../../runtime/sidecar-state.js';
import { createEngine } from '../engine.js';
import { warn } from '../output.js';
import { parseDuration } from '../../duration.js';
import type { UpFlags } from './up.js';
import type { Engine } from '../../engine/context.js';
import { findRig, refusal } from '../../engine/apply.js';
import { rigFileWarnings } from '../../engine/bring-up.js';

/**
 * `up --dry-run`: what `up` would do, touching nothing. No rig of that name is up: the plan of a new rig (the
 * network, the sidecar, the links and each node, in start order). One is up: what a reconcile would do (or that
 * nothing would be done, or that the rig would be recreated with --recreate); where up would refuse, the same
 * error. With --json, one JSON document (see DryRunPlan). An engine that does not answer: the plan of a new rig.
 */
export async function dryRun(rigFile: string, flags: UpFlags): Promise<void> {
  parseDuration(flags.timeout, '--timeout');
  const plan = planRig(loadRigFile(rigFile, { name: flags.name }));
  rigFileWarnings(plan, { warn });
  const engine = await createEngine(); // the engine is connected to on its first call, in findRig
  engine.rigs.place?.(plan.name, plan.segment);
  const found = await findRig(engine, plan, rigFile).catch((err: unknown) => {
    if (!(err instanceof RigError) || err.exitCode !== ExitCode.engineUnavailable) throw err;
    warn(`${err.message} Whether a rig named ${plan.name} is up cannot be told: this is the plan of a new one.`);
    return undefined;
  });
  const print = (result: DryRunPlan, text: () => string[]) =>
    console.log(flags.json ? JSON.stringify(result, null, 2) : text().map(printable).join('\n'));
  if (!found) {
    const summary = await placed(engine, plan, summarizePlan(plan));
    return print({ ...summary, up: false, action: 'create' }, () => [
      `rig up would make rig ${plan.name} from ${rigFile} (a dry run: nothing is made):`,
      ...newRigLines(summary),
    ]);
  }
  const { diff, running } = found;
  const changes = describeDiff(diff);
  const header = { name: plan.name, file: plan.spec.file, up: true as const, diff, changes };
  if (sameRig(diff)) {
    return print({ ...header, action: 'nothing' }, () => [`rig ${plan.name} is up and matches ${rigFile}: rig up would do nothing`]);
  }
  if (flags.recreate) {
    const summary = await placed(engine, plan, summarizePlan(plan));
    return print({ ...summary, ...header, action: 'recreate' }, () => [
      `rig ${plan.name} is up; rig up --recreate would take it down, because ${rigFile} differs from it:`,
      ...changes.map((l) => `  ${l}`),
      'and then make it anew:',
      ...newRigLines(summary),
    ]);
  }
  const sidecar = (await engine.rigs.containers(plan.name)).find((c) => c.role === 'sidecar');
  const refused = refusal(engine, plan, diff, sidecar, rigFile);
  if (refused || !sidecar) throw refused;
  const starting = await placedNodes(engine, plan, reconcileNodes(plan, diff, { ...running, sidecar }));
  const links = plan.links
    .filter((l) => starting.some((n) => n.fqdn === l.node))
    .map(({ node, path, target }) => ({ fqdn: node, path, target }));
  return print({ ...header, action: 'reconcile', links, nodes: starting }, () => [
    `rig ${plan.name} is up; rig up would change only this (a reconcile):`,
    ...changes.map((l) => `  ${l}`),
    ...(starting.length ? linkLines(plan.spec.dir, links) : []),
    ...(starting.length ? ['nodes it would start, in start order (what a node needs first):'] : []),
    ...starting.flatMap((n) => nodeLines(n, plan.spec.dir, plan.spec.file)),
  ]);
}

/**
 * `up --dry-run --json`. No rig of that name up (action "create"): the PlanSummary (name, file, domain, network,
 * sidecar, configs, factsFrom, links, nodes in start order, each with its settings once, warnings). One up: its
 * diff and the diff's lines (changes), and for "reconcile" the links and nodes it would make, for "recreate" the
 * PlanSummary of the new rig.
 */
type DryRunPlan =
  | (PlanSummary & { up: false; action: 'create' })
  | (PlanSummary & DryRunDiff & { action: 'recreate' })
  | (DryRunDiff & { action: 'nothing' })
  | (DryRunDiff & { action: 'reconcile'; links: PlanSummary['links']; nodes: NodeSummary[] });

type DryRunDiff = { name: string; file: string; up: true; diff: RigDiff; changes: string[] };

/**
 * Where up would put the plan's LXD nodes: LXD is asked as up asks it (read only), so a project or target LXD does
 * not have is the same error as up's. Nodes of other backends, and a plan with none on LXD, are left as they are.
 */
async function placedNodes(engine: Engine | undefined, plan: Plan, nodes: NodeSummary[]): Promise<NodeSummary[]> {
  const lxd = engine?.backends.lxd;
  const asked = new Set(nodes.filter((n) => n.backend === 'lxd').map((n) => n.fqdn));
  if (!lxd?.check || !asked.size) return nodes;
  await lxd.check({ ...plan, nodes: plan.nodes.filter((n) => asked.has(n.spec.name)) }, { dryRun: true });
  const members = lxd.placement?.(plan.name) ?? new Map<string, string>();
  return nodes.map((n) => (members.has(n.fqdn) ? { ...n, member: members.get(n.fqdn) } : n));
}

const placed = async (engine: Engine | undefined, plan: Plan, summary: PlanSummary): Promise<PlanSummary> => ({
  ...summary,
  nodes: await placedNodes(engine, plan, summary.nodes),
});

/** The nodes a reconcile would start (new, changed, broken), in start order, at the addresses they would get. */
function reconcileNodes(plan: Plan, diff: RigDiff, rig: RunningRig): NodeSummary[] {
  const started = new Set([...diff.added, ...diff.changed, ...diff.broken]);
  const addresses = assignAddresses(plan, rig.network.addresses, reservedAddresses(rig.sidecar.labels));
  return startOrder(plan.nodes.filter((n) => started.has(n.spec.name))).map((n) => summarizeNode(n, addresses.get(n.spec.name)!));
}

/** A new rig's plan, as a person reads it. */
function newRigLines(p: PlanSummary): string[] {
  const { network: net } = p;
  const dir = dirname(p.file);
  const where = net.subnet ?? `a free /24 of ${net.pool}`;
  const forward = net.forward.length ? `, looks up ${net.forward.join(', ')} upstream` : '';
  return [
    `network ${net.name}: ${where}, ${net.internal ? 'internal (no route out of the machine)' : 'with a route out of the machine'}${forward}`,
    `sidecar ${p.sidecar.container}: DNS and DHCP at ${p.sidecar.dns}, etcd at ${p.sidecar.etcd}, for the domain ${p.domain}`,
    ...(p.factsFrom ? [`production facts from ${join(relative(dir, p.factsFrom.dir) || '.', p.factsFrom.file)}`] : []),
    ...linkLines(dir, p.links),
    'nodes, in start order (what a node needs first):',
    ...p.nodes.flatMap((n) => nodeLines(n, dir, p.file)),
  ];
}

function linkLines(dir: string, links: PlanSummary['links']): string[] {
  if (!links.length) return ['symlinks: none'];
  return ['symlinks:', ...links.map((l) => `  ${relative(dir, l.path)} -> ${l.target}`)];
}

/** One node of a plan: what it is, what it mirrors, where it runs, what it waits for, does and checks. */
function nodeLines(n: NodeSummary, dir: string, file: string): string[] {
  const list = (label: string, items: string[]) =>
    items.length <= 1 ? [`    ${label}: ${items[0] ?? 'none'}`] : [`    ${label}:`, ...items.map((item, i) => `      ${i + 1}. ${item}`)];
  const short = (text: string) => (text.length > 70 ? `${text.slice(0, 69)}…` : text);
  const facts = Object.entries(n.facts).map(([k, v]) => `${k}=${short(v)}`);
  const address = n.ip.startsWith('.') ? `${n.ip} of the subnet` : n.ip;
  return [
    `  ${n.fqdn} (container ${n.container}, ${relative(process.cwd(), file) || file}:${n.line})`,
    `    mirrors ${n.mirrors ?? 'no live node'}`,
    `    ${n.backend}${n.member ? ` on member ${n.member}` : ''}, image ${n.image}, init ${n.init}, address ${address}`,
    ...(n.needs.length ? [`    needs ${n.needs.map((d) => `${d.fqdn} (${d.fact ? `fact ${d.fact}` : 'ready'})`).join(', ')}`] : []),
    ...(n.roles.length ? [`    roles ${n.roles.join(', ')}`] : []),
    ...(facts.length ? [`    facts ${facts.join(', ')}`] : []),
    ...list(
      'steps',
      n.provision.map((s) => short(stepWords(s, dir))),
    ),
    ...list('checks', n.validate.map(short)),
    ...(n.update.length
      ? list(
          'update',
          n.update.map((u) => short(typeof u === 'string' ? u : `ansible (from the host): ${u.ansible}`)),
        )
      : []),
  ];
}

function stepWords(step: ProvisionStep, dir: string): string {
  if (step.kind === 'shell') return `shell: ${step.script.trim().split('\n').join(' ⏎ ')}`;
  if (step.kind === 'script') return `script: ${relative(dir, step.path)}`;
  if (step.kind === 'ansible') return `ansible (from the host): ${relative(dir, step.playbook)}`;
  return `puppet: ${relative(dir, step.manifest)}`;
}
