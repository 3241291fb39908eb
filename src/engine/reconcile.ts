import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ExitCode, InternalError, RigError } from '../errors.js';
import type { Facts } from '../facts/store.js';
import { Label } from '../labels.js';
import { linksOf, nodeSettingsHash, rigSettings, rigSettingsHash, type Plan, type PlannedLink, type RigSettings } from '../plan/plan.js';
import { nodeWiring } from '../runtime/veth.js';
import type { RigSpec } from '../rigfile/types.js';
import type { LinkRecord, NodeInstance } from '../runtime/backend.js';
import type { RigContainer, RigNetwork } from '../runtime/runtime.js';
import type { Segment } from '../runtime/kind.js';
import { assignAddresses, etcdUrl, nodesConf } from '../plan/sidecar.js';
import type { Engine, Step } from './context.js';
import { checkLinks, linkKey, linksOfOthers, makeLinks, removeLinks, rigLinks } from './links.js';
import { processAlive } from './owner.js';
import { AbortableRun } from './abortable.js';
import { checkContainerNames, checkNodeImages } from './up-checks.js';
import { NodeImages } from './builds.js';
import { etcdUnanswered } from './taken-down.js';
import { nodeSteps } from './node-starts.js';
import { type UpOptions } from './up.js';
import { hostAccess } from './status.js';
import { guardedPorts } from './ports.js';
import { cutWhilePaused } from './link-drills.js';
import { declarationOf } from '../runtime/kinds.js';

/** What differs between a rig file and the rig of that name that is up. */
export interface RigDiff {
  rigChanged: boolean; // domain, network, config trees or production facts: the rig itself
  rigChanges?: string[]; // which of them, and how ("domain a.test -> b.test"), when the rig keeps its settings (io.rig.settings)
  added: string[];
  removed: string[];
  changed: string[];
  broken: string[]; // same settings, but not running or not ready: made again
  unchanged: string[];
}

export const sameRig = (d: RigDiff) => !d.rigChanged && !d.added.length && !d.removed.length && !d.changed.length && !d.broken.length;

/**
 * Compare a plan with what runs: node by node by the hash of its settings, and the rig-wide settings (`settings`,
 * their hash; `rigSettings`, their JSON, which says what changed). A node whose settings match but that is not
 * running, or whose stage is not ready (`stages`, when known), is broken. Pure.
 */
export function diffRig(
  plan: Plan,
  running: { settings?: string; rigSettings?: string; nodes: NodeInstance[]; stages?: Map<string, string>; segment?: Segment },
): RigDiff {
  const wanted = new Map(plan.nodes.map((n) => [n.spec.name, nodeSettingsHash(n.spec)]));
  const have = new Map(running.nodes.map((n) => [n.node, n]));
  const ok = (node: string) => have.get(node)!.running && (!running.stages || running.stages.get(node) === 'ready');
  const same = [...wanted].filter(([n, hash]) => have.get(n)?.settings === hash).map(([n]) => n);
  // A rig that goes from Docker's segment to LXD's (its last Docker node gone) or back is a new network and sidecar.
  const moved = running.segment !== undefined && running.segment !== plan.segment;
  const rigChanged = moved || running.settings !== rigSettingsHash(plan.spec);
  const rigChanges = rigChanged
    ? [
        ...(moved ? [`segment ${running.segment} -> ${plan.segment} (the rig's network and sidecar)`] : []),
        ...(settingsChanges(running.rigSettings, plan.spec) ?? []),
      ]
    : undefined;
  return {
    rigChanged,
    ...(rigChanges?.length ? { rigChanges } : {}),
    added: [...wanted.keys()].filter((n) => !have.has(n)),
    removed: [...have.keys()].filter((n) => !wanted.has(n)),
    changed: [...wanted].filter(([n, hash]) => have.has(n) && have.get(n)!.settings !== hash).map(([n]) => n),
    broken: same.filter((n) => !ok(n)),
    unchanged: same.filter(ok),
  };
}

/** The words for a change of the rig itself: which settings, and how, when known (rigs made before rig kept them: not). */
export const rigChangeWords = (d: RigDiff) => d.rigChanges?.join('; ') ?? 'domain, network, config trees or production facts changed';

/** The plan of a reconcile, as lines a person reads before anything is done. */
export function describeDiff(d: RigDiff): string[] {
  return [
    ...(d.rigChanged ? [`~ the rig: ${rigChangeWords(d)}`] : []),
    ...d.added.map((n) => `+ ${n} (new)`),
    ...d.removed.map((n) => `- ${n} (gone from the rig file)`),
    ...d.changed.map((n) => `~ ${n} (settings changed)`),
    ...d.broken.map((n) => `~ ${n} (not running or not ready: made again)`),
    ...(d.unchanged.length ? [`= ${d.unchanged.length} node${d.unchanged.length > 1 ? 's' : ''} unchanged`] : []),
  ];
}

/** A value in a change line: short values as they are, a missing one as "(none)", a long one not at all. */
const LONG = 60;

/**
 * Which rig-wide settings differ between the JSON kept on the rig's network and the rig file, each as the rig file
 * names it: "domain a.test -> b.test", "network.forward + ntp.prod.example", "configs + dir/{node}.yml". Paths are
 * relative to the rig file's directory. Empty when the JSON is missing or unreadable (a rig made before rig kept it).
 */
export function settingsChanges(kept: string | undefined, spec: RigSpec): string[] {
  let before: RigSettings;
  try {
    before = JSON.parse(kept ?? '') as RigSettings;
    if (!before || typeof before !== 'object' || !before.network) return [];
  } catch {
    // no settings label (an older rig's) or not JSON: nothing to compare against
    return [];
  }
  const rel = (path: string) => relative(spec.dir, path) || '.';
  const tree = (t?: { dir: string; file: string }) => (t ? join(rel(t.dir), t.file) : undefined);
  const facts = (f?: RigSettings['factsFrom']) => (f ? `${tree(f)}${f.hardware ? ' (hardware too)' : ''}` : undefined);
  const after = rigSettings(spec);
  const fields: Array<[string, unknown, unknown]> = [
    ['domain', before.domain, after.domain],
    ['network.subnet', before.network.subnet, after.network.subnet],
    ['network.pool', before.network.pool, after.network.pool],
    ['network.internal', before.network.internal, after.network.internal],
    ['network.forward', before.network.forward ?? [], after.network.forward],
    ['configs', (before.configs ?? []).map(tree), after.configs.map(tree)],
    ['facts_from', facts(before.factsFrom), facts(after.factsFrom)],
  ];
  return fields.flatMap(([key, was, is]) => {
    if (Array.isArray(was) && Array.isArray(is)) {
      const added = is.filter((v) => !was.includes(v)).map((v) => `+ ${String(v)}`);
      const gone = was.filter((v) => !is.includes(v)).map((v) => `- ${String(v)}`);
      const moved = !added.length && !gone.length && JSON.stringify(was) !== JSON.stringify(is) ? ['(order changed)'] : [];
      return added.length || gone.length || moved.length ? [`${key} ${[...added, ...gone, ...moved].join(', ')}`] : [];
    }
    if (JSON.stringify(was) === JSON.stringify(is)) return [];
    const show = (v: unknown) => (v === undefined ? '(none)' : String(v));
    return show(was).length > LONG || show(is).length > LONG ? [`${key} changed`] : [`${key} ${show(was)} -> ${show(is)}`];
  });
}

/** The rig that is up, as a reconcile finds it. */
export interface RunningRig {
  network: RigNetwork;
  sidecar: RigContainer;
  nodes: NodeInstance[];
}

export type ReconcileOptions = Pick<UpOptions, 'timeoutMs' | 'owner' | 'productionFacts' | 'idempotent'> & {
  newAddress?: string[]; // nodes made again at another address of the subnet (rig replace --new-address)
};

export interface ReconcileRun {
  steps: Step[];
  abort(reason: Error): void;
  abortReason(): Error | undefined;
  /** Stop, and wait for what is being made: it is the rig's (labelled), and stays. Releases the reconcile's lock. */
  settle(): Promise<void>;
}

/**
 * `up` of an edited rig file on a rig that is up, when only nodes differ: remove the nodes gone from the rig file
 * and those to make again (changed or broken), give dnsmasq the new node list (every kept node keeps its
 * address), fix the links, then start the new nodes as `up` does. The unchanged nodes are not touched. The rig
 * is never removed: a failure or an interrupt leaves it as far as the changes got, and `up` again finishes them.
 */
class RigReconcile implements ReconcileRun {
  readonly steps: Step[];
  private readonly run = new AbortableRun();
  private readonly toRemove: NodeInstance[];
  private readonly toStart: Plan; // the plan with only the nodes to start
  private readonly images: NodeImages;
  private links: { toMake: PlannedLink[]; toRemove: LinkRecord[]; usedElsewhere: Set<string> } = {
    toMake: [],
    toRemove: [],
    usedElsewhere: new Set(),
  };
  private nodeLinks = new Map<string, LinkRecord[]>();
  private store?: Facts;
  private locked = false;

  constructor(
    private readonly engine: Engine,
    private readonly plan: Plan,
    private readonly diff: RigDiff,
    private readonly rig: RunningRig,
    private readonly options: ReconcileOptions,
  ) {
    const remade = new Set([...diff.changed, ...diff.broken]);
    this.toRemove = rig.nodes.filter((n) => diff.removed.includes(n.node) || remade.has(n.node));
    this.toStart = { ...plan, nodes: plan.nodes.filter((n) => diff.added.includes(n.spec.name) || remade.has(n.spec.name)) };
    this.images = new NodeImages(engine, this.toStart);
    const starting = this.toStart.nodes.length;
    this.steps = [
      { title: 'Check the changes', run: () => this.check() },
      {
        title: 'Build images',
        skip: () => this.images.none,
        run: (report) => this.images.build(report, this.run),
      },
      {
        title: `Remove ${this.toRemove.length} node${this.toRemove.length === 1 ? '' : 's'}`,
        skip: () => !this.toRemove.length,
        run: (report) => this.removeNodes(report),
      },
      { title: 'Give DNS, DHCP and etcd the new node list', run: (report) => this.updateSidecar(report) },
      { title: 'Link live node configs', skip: () => !this.links.toMake.length, run: async (report) => this.makeLinks(report) },
      {
        title: `Start ${starting} node${starting === 1 ? '' : 's'}`,
        skip: () => !starting,
        concurrent: () => this.startNodes(),
      },
    ];
  }

  abort(reason: Error): void {
    this.run.abort(reason);
  }

  abortReason(): Error | undefined {
    return this.run.reason;
  }

  async settle(): Promise<void> {
    this.run.abort(new RigError('the reconcile was stopped'));
    await this.run.settled();
    this.store?.close();
    if (this.locked) rmSync(lockPath(this.rig.sidecar), { force: true });
  }

  private async check(): Promise<void> {
    const { engine, toStart } = this;
    this.lock();
    for (const kind of new Set(toStart.nodes.map((n) => n.spec.backend))) {
      const backend = engine.backends[kind];
      if (!backend) throw new RigError(`The ${kind} backend is not available.`, 'use backend: docker', ExitCode.badInput);
      await backend.check?.(toStart);
    }
    const added = toStart.nodes.filter((n) => this.diff.added.includes(n.spec.name));
    await checkContainerNames(engine, { ...toStart, nodes: added }, { sidecar: false });
    await checkNodeImages(engine, toStart);
    await this.images.check(engine.images.missing(this.images.rigImages(['tools']), false, this.plan.segment));
    this.planLinks(await rigLinks(engine));
  }

  /** Which links go (those of removed nodes that no node keeps), which are made, and which each new node records. */
  private planLinks(byRig: Map<string, LinkRecord[]>): void {
    const { plan } = this;
    const usedElsewhere = linksOfOthers(byRig, plan.name);
    const wanted = new Set(plan.links.map(linkKey));
    const recorded = new Set((byRig.get(plan.name) ?? []).map(linkKey));
    const toRemove = this.toRemove
      .flatMap((n) => (n.mirrors ? linksOf(plan.spec, n.node, n.mirrors) : []))
      .filter((l) => recorded.has(linkKey(l)) && !wanted.has(linkKey(l)));
    const startLinks = plan.links.filter((l) => this.toStart.nodes.some((n) => n.spec.name === l.node));
    // Links of this rig's that stay (a node made again with the same mirror) count as in use: checked, not made again.
    const checked = checkLinks(startLinks, plan.spec.file, new Set([...usedElsewhere, ...recorded]));
    for (const link of [...checked.toMake, ...checked.shared]) {
      this.nodeLinks.set(link.node, [...(this.nodeLinks.get(link.node) ?? []), { path: link.path, target: link.target }]);
    }
    this.links = { toMake: checked.toMake, toRemove, usedElsewhere };
  }

  /** One reconcile of a rig at a time: a lock file in the sidecar's state directory, taken over if its holder died. */
  private lock(): void {
    const path = lockPath(this.rig.sidecar);
    const holder = existsSync(path) ? Number(readFileSync(path, 'utf8')) : undefined;
    if (holder && holder !== process.pid && processAlive(holder)) {
      throw new RigError(
        `Rig ${this.plan.name} is being changed by another rig up (pid ${holder}).`,
        'wait for it to finish, then run rig up again',
        ExitCode.badInput,
      );
    }
    writeFileSync(path, String(process.pid));
    this.locked = true;
  }

  private async facts(): Promise<Facts> {
    this.store ??= await this.engine.facts(hostAccess(this.rig.network, this.rig.sidecar.labels, this.plan.name));
    return this.store;
  }

  /** Stop and remove each node (its agent releases its lease), its veth if left, its etcd user and keys, then the links that go. */
  private async removeNodes(report: (line: string) => void): Promise<void> {
    const { engine, plan, run } = this;
    const facts = await this.facts();
    await Promise.all(
      this.toRemove.map((node) =>
        run.making(async () => {
          const backend = engine.backends[node.backend];
          if (!backend) throw new RigError(`${node.node} is a ${node.backend} node, and that backend is not available here.`);
          await backend.remove(node);
          if (node.paused) await cutWhilePaused(engine, { rig: plan.name, node: node.node }, false); // its port passes again
          if (declarationOf(node.backend).wiredByHost)
            await engine.wiring.removeHostInterfaces([nodeWiring(plan.name, node.node).hostInterface]);
          await facts.removeNode(plan.name, node.node).catch(etcdUnanswered(etcdUrl(this.rig.network)));
          report(`removed ${node.node}`);
        }),
      ),
    );
    const removed = removeLinks(this.links.toRemove, this.links.usedElsewhere);
    if (removed.length) report(`${removed.length} symlink${removed.length > 1 ? 's' : ''} removed`);
  }

  /**
   * dnsmasq gets the new node list, each kept node at its address and each new one at a free one (never one a
   * removed node had, whose lease may outlive it); etcd gets a user for each new node, and the live-name marks.
   */
  private async updateSidecar(report: (line: string) => void): Promise<void> {
    const { engine, plan, rig, run } = this;
    const reserved = engine.sidecars.reserved(rig.sidecar.labels);
    if (!reserved) throw new InternalError(`the sidecar of rig ${plan.name} has no node config, after the check that it has`);
    for (const node of plan.nodes.filter((n) => this.options.newAddress?.includes(n.spec.name))) {
      const old = reserved.get(node.mac);
      reserved.delete(node.mac);
      if (old) reserved.set(`moved from ${node.mac}`, old); // still taken: the node gets another address
    }
    const addresses = assignAddresses(plan, rig.network.addresses, reserved);
    await run.making(() => engine.network.guardPorts(plan.name, rig.network.id, guardedPorts(plan, addresses)));
    await run.making(() => engine.sidecars.reload(rig.sidecar, nodesConf(plan, addresses), plan.nodes.length));
    report(`dnsmasq serves ${plan.nodes.length} node${plan.nodes.length === 1 ? '' : 's'}`);
    const facts = await this.facts();
    const url = etcdUrl(rig.network);
    const starting = this.toStart.nodes.map((n) => n.spec.name);
    await run.making(() => facts.addNodes(plan.name, rig.sidecar.labels[Label.etcdRoot], starting)).catch(etcdUnanswered(url));
    const production = [...(this.options.productionFacts ?? new Map<string, Record<string, string>>())].filter(([n]) =>
      starting.includes(n),
    );
    await Promise.all(production.map(([node, values]) => facts.putFacts(plan.name, node, values))).catch(etcdUnanswered(url));
    const mirrored = new Map(plan.nodes.filter((n) => n.spec.mirrors).map((n) => [n.spec.mirrors!, n.spec.name]));
    const gone = this.toRemove.map((n) => n.mirrors).filter((m): m is string => !!m && !mirrored.has(m));
    await Promise.all([
      ...[...mirrored].map(([live, node]) => facts.setMark(plan.name, `mirrors/${live}`, node)),
      ...gone.map((live) => facts.deleteMark(plan.name, `mirrors/${live}`)),
    ]).catch(etcdUnanswered(url));
  }

  private makeLinks(report: (line: string) => void): void {
    const made = makeLinks(this.links.toMake);
    report(`${made.length} symlink${made.length === 1 ? '' : 's'} made`);
  }

  private startNodes(): Step[] {
    const { engine, toStart, rig, options } = this;
    if (!this.store) throw new InternalError('the nodes step ran before the sidecar was given the new nodes');
    const store = this.store;
    return nodeSteps(
      engine,
      toStart,
      rig.network,
      Promise.resolve(),
      Promise.resolve(store),
      { ...options, wait: true, etcdRootPassword: rig.sidecar.labels[Label.etcdRoot], nodeLinks: this.nodeLinks },
      this.run,
    );
  }
}

const lockPath = (sidecar: RigContainer) => join(sidecar.labels[Label.state], 'reconcile.lock');

/** Whether a rig that is up can take a reconcile: its sidecar keeps the node config in a file (rig 0.1 sidecars did not). */
export const canReconcile = (engine: Engine, sidecar: RigContainer) => engine.sidecars.reserved(sidecar.labels) !== undefined;

export function reconcileSteps(engine: Engine, plan: Plan, diff: RigDiff, rig: RunningRig, options: ReconcileOptions): ReconcileRun {
  return new RigReconcile(engine, plan, diff, rig, options);
}
