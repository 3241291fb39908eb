import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, InternalError, NodeFailed, NodeNotReady, RigError } from '../errors.js';
import { newRootPassword, nodePassword, unanswered, type Facts } from '../facts/store.js';
import { NODE_IMAGES, type ImageName } from '../runtime/docker/images.js';
import { Label } from '../labels.js';
import { isConflict } from '../runtime/docker/connect.js';
import { printable, printableLines } from '../printable.js';
import { rigSettings, rigSettingsHash, type Plan, type PlannedLink, type PlannedNode } from '../plan/plan.js';
import type { NodeSpec } from '../rigfile/types.js';
import { tail } from '../runtime/docker/containers.js';
import { checkSubnetFree, type RigNetwork } from '../runtime/docker/network.js';
import { scaledWaitMs } from '../runtime/pacing.js';
import { assignAddresses, etcdUrl } from '../plan/sidecar.js';
import { guardedPorts } from './ports.js';
import { serveHostSteps } from './host-steps.js';
import type { Engine, Step } from './context.js';
import type { LinkRecord, NodeBackend, NodeLaunch } from '../runtime/backend.js';
import { agentEnv } from './agent-env.js';
import { destroyRig } from './down.js';
import { checkLinks, linksInUse, makeLinks } from './links.js';

export interface UpOptions {
  downSettleMs?: number; // how long a failure a rig down may have caused waits for the rig's network to go (default 10 s)
  timeoutMs: number; // for every node to be ready
  wait: boolean; // false: return once every node is started, without waiting for ready
  owner: string; // host:pid of this process, on the network, for rig gc
  madeNetwork?: (id: string) => void; // the network exists and is this process's
  claimed?: () => void; // this process owns the rig name: everything with the rig's label is its own
  productionFacts?: Map<string, Record<string, string>>; // by node: the live node's facts, under rig's own
  idempotent?: boolean; // run each node's steps twice: the second run must change nothing
  nodeLinks?: Map<string, LinkRecord[]>; // by node: symlinks made for it alone, recorded on it (a reconcile's)
}

export type Cleaned = 'rig' | 'network' | 'nothing' | 'kept' | 'gone';

export interface UpRun {
  steps: Step[];
  /** Stop the steps: every wait ends at once with `reason`, and nothing more is made. */
  abort(reason: Error): void;
  /** Why the steps were stopped (an interrupt, or up's deadline), if they were. */
  abortReason(): Error | undefined;
  /**
   * Stop the steps, wait for what is being made to exist, then remove what this up made: the whole rig (by its
   * label) if this up owns the rig name (unless `keep`: --keep-on-failure), else only its own network.
   * Says what it removed; 'gone': the rig was taken down meanwhile (rig down), and what this up made after that
   * is removed too. `failure`: why the steps ended, if they failed (see mayBeTakenDown).
   */
  cleanup(keep: boolean, failure?: unknown): Promise<Cleaned>;
  /** The steps ended well: the deadline no longer applies. */
  done(): void;
  /** Stop recording the stages for `rig trace` (the keeper takes over), once the records under way are written. */
  stopRecording(): Promise<void>;
  facts(): Facts | undefined;
}

/** Waits that end at once when an up is aborted, and the work under way that its cleanup waits for. */
export class AbortableRun implements Abortable {
  private readonly aborter = new AbortController();
  readonly signal = this.aborter.signal;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor() {
    setMaxListeners(0, this.signal); // no limit: every node of a big rig waits on it (Node warns on stderr past 10)
  }

  abort(reason: Error): void {
    if (!this.signal.aborted) this.aborter.abort(reason);
  }

  get reason(): Error | undefined {
    return this.signal.aborted ? (this.signal.reason as Error) : undefined;
  }

  /** Work that makes something: cleanup waits for it, so that it finds and removes all it made. */
  readonly track = (work: Promise<unknown>): void => {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
  };

  /** Start work that makes something, unless the up was aborted. */
  readonly making = <T>(work: () => Promise<T>): Promise<T> => {
    this.signal.throwIfAborted();
    const made = work();
    this.track(made);
    return made;
  };

  /** A wait that ends at once with the abort's reason. */
  readonly unlessAborted = <T>(wait: Promise<T>): Promise<T> => {
    const ended = new Promise<T>((resolve, reject) => {
      if (this.signal.aborted) {
        wait.catch(() => {}); // not waited on: its failure, later, is no one's (and must not end the process)
        return reject(this.signal.reason as Error);
      }
      const onAbort = () => reject(this.signal.reason as Error);
      this.signal.addEventListener('abort', onAbort, { once: true });
      wait.then(resolve, reject).finally(() => this.signal.removeEventListener('abort', onAbort));
    });
    ended.catch(() => {}); // whoever awaits it handles the failure
    return ended;
  };

  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }
}

/**
 * One `rig up`, as named steps on one object: check the rig, build images, create the network (and claim the rig
 * name), link live configs, start the sidecar and the nodes. Nothing is created before the checks pass. The rig
 * name is claimed by creating the sidecar container right after the network (the engine lets only one container
 * have a name): an up that loses that race removes its own network and nothing else. From the network on, the
 * whole up has a deadline of --timeout and a grace, so a sidecar the host cannot reach ends it (exit 4) like a
 * silent node.
 */
class RigUp implements UpRun {
  readonly steps: Step[];
  private readonly run = new AbortableRun();
  private readonly etcdRootPassword = newRootPassword();
  private readonly imageNames: ImageName[];
  private missingImages: ImageName[] = [];
  private linksUsed: PlannedLink[] = []; // made by this rig, or shared with another rig that made them
  private network?: RigNetwork;
  private sidecarContainer?: string; // its id
  private claimed = false; // this up owns the rig name: everything with the rig's label is its own
  private sidecarServes = false;
  private store?: Facts;
  private recording?: () => Promise<void>;
  private readonly startedAt = new Date();
  private deadline?: NodeJS.Timeout;
  private cleaned?: Promise<Cleaned>;

  constructor(
    private readonly engine: Engine,
    private readonly plan: Plan,
    private readonly options: UpOptions,
  ) {
    this.imageNames = [...new Set<ImageName>(['sidecar', 'tools', ...plan.nodes.map((n) => rigImageOf(n.spec) ?? 'base')])];
    const count = plan.nodes.length;
    this.steps = [
      { title: 'Check the rig', run: () => this.checkRig() },
      {
        title: 'Build images',
        skip: () => this.missingImages.length === 0,
        concurrent: () => [
          { title: `Build ${this.missingImages.map((n) => engine.images.ref(n)).join(', ')}`, run: (report) => this.buildImages(report) },
        ],
      },
      { title: 'Create the rig network', run: (report) => this.createNetwork(report) },
      { title: 'Link live node configs', skip: () => this.linksUsed.length === 0, run: (report) => this.linkConfigs(report) },
      { title: `Start dnsmasq, etcd and ${count} node${count > 1 ? 's' : ''}`, concurrent: () => this.sidecarAndNodes() },
    ];
  }

  abort(reason: Error): void {
    this.run.abort(reason);
  }

  abortReason(): Error | undefined {
    return this.run.reason;
  }

  cleanup(keep: boolean, failure?: unknown): Promise<Cleaned> {
    return (this.cleaned ??= this.removeWhatWasMade(keep, failure));
  }

  done(): void {
    clearTimeout(this.deadline);
  }

  async stopRecording(): Promise<void> {
    await this.recording?.();
    this.recording = undefined;
  }

  facts(): Facts | undefined {
    return this.store;
  }

  private async checkRig(): Promise<void> {
    const { engine, plan } = this;
    // The engine's lists are read at once; the first check to fail in this order says what is wrong. The node
    // images' check may look into an image (a container made and removed): it comes last, alone.
    const quiet = <T>(p: Promise<T>) => (p.catch(() => {}), p);
    const inUse = quiet(linksInUse(engine, plan.name));
    const running = quiet(engine.runtime.networks(plan.name));
    const names = quiet(checkContainerNames(engine, plan));
    const missing = quiet(engine.images.missing(this.imageNames));
    const links = checkLinks(plan.links, plan.spec.file, await inUse);
    this.linksUsed = [...links.toMake, ...links.shared];
    if (plan.spec.network.subnet) checkSubnetFree(plan.spec.network.subnet);
    for (const kind of new Set(plan.nodes.map((n) => n.spec.backend))) {
      const backend = engine.backends[kind];
      if (!backend) throw new RigError(`The ${kind} backend is not available.`, 'use backend: docker', ExitCode.badInput);
      await backend.check?.();
    }
    if ((await running).length) throw alreadyUp(plan.name);
    await names;
    await checkNodeImages(engine, plan);
    this.missingImages = await missing;
  }

  private async buildImages(report: (line: string) => void): Promise<void> {
    for (const name of this.missingImages) {
      this.run.signal.throwIfAborted();
      report(`building ${this.engine.images.ref(name)}`);
      await this.run.unlessAborted(this.engine.images.build(name, report));
    }
  }

  private async createNetwork(report: (line: string) => void): Promise<void> {
    const { engine, plan, options, run } = this;
    this.startDeadline();
    const { network, firewall } = await run.making(() =>
      engine.runtime.createNetwork({
        name: plan.network,
        subnet: plan.spec.network.subnet,
        pool: plan.spec.network.pool,
        internal: plan.spec.network.internal,
        labels: {
          [Label.rig]: plan.name,
          [Label.rigFile]: plan.spec.file,
          [Label.spec]: rigSettingsHash(plan.spec),
          [Label.settings]: JSON.stringify(rigSettings(plan.spec)),
          [Label.owner]: options.owner,
          [Label.links]: JSON.stringify(this.linksUsed.map(({ path, target }) => ({ path, target }))),
        },
      }),
    );
    this.network = network;
    options.madeNetwork?.(network.id);
    run.track(firewall);
    // Port security is in place before any node is wired: each node's port passes only its planned MAC and address.
    const ports = run.making(() =>
      engine.runtime.guardPorts(plan.name, network.id, guardedPorts(plan, assignAddresses(plan, network.addresses))),
    );
    // The claim: another up of this name that got this far too has its own network, but only one sidecar. It is
    // made while the network's firewall rule and port guard go in; either failing removes the rig (or this up's network).
    const claim = run
      .making(() => engine.sidecars.create(plan, network, this.etcdRootPassword))
      .then(
        (id) => {
          this.sidecarContainer = id;
          this.claimed = true;
          options.claimed?.();
        },
        (err: Error) => {
          throw isConflict(err) ? alreadyUp(plan.name) : err;
        },
      );
    await Promise.all([claim, firewall, ports]);
    report(`${network.name}: ${network.addresses.subnet} on ${network.bridge}${network.internal ? ' (internal)' : ''}`);
  }

  private async linkConfigs(report: (line: string) => void): Promise<void> {
    // Shared links too: another rig that went down since the check, before this rig's network listed them,
    // removed them.
    const made = await this.run.making(async () => makeLinks(this.linksUsed));
    report(`${made.length} symlinks made`);
  }

  /**
   * Node containers are created while the sidecar starts, and started once it runs (the engine starts one
   * container at a time or so: the sidecar is what every node waits for). A node is wired to the bridge, which
   * sets its agent going, once dnsmasq serves; the sidecar keeps the nodes out of etcd until rig has locked etcd
   * down, put each node's `created` and watches their stages (the agents try again until then), so a node's DHCP
   * overlaps etcd's start.
   */
  private sidecarAndNodes(): Step[] {
    const network = this.network;
    const container = this.sidecarContainer;
    if (!network || !container) throw new InternalError('the nodes step ran before the network and the sidecar were made');
    const facts = deferred<Facts>();
    const bridge = deferred<void>();
    const sidecarStarted = deferred<void>();
    const options = { ...this.options, etcdRootPassword: this.etcdRootPassword };
    const nodes = new NodeStarts(
      this.engine,
      this.plan,
      network,
      this.run.unlessAborted(sidecarStarted.promise),
      facts.promise,
      options,
      this.run,
      {
        bridge: bridge.promise,
      },
    );
    const sidecarStep: Step = {
      title: 'dnsmasq and etcd',
      run: async (report) => {
        try {
          await this.startSidecar(network, container, { started: sidecarStarted.resolve, facts, bridge });
          await this.run.unlessAborted(nodes.admitted);
          await this.run.unlessAborted(this.engine.sidecars.letNodesIn(container, this.plan.nodes.length));
        } catch (err) {
          for (const waiting of [sidecarStarted, facts, bridge]) waiting.reject(err as Error);
          throw this.run.reason ?? err;
        }
        this.sidecarServes = true;
        report(`DNS and DHCP at ${network.addresses.dnsmasq}, etcd at ${etcdUrl(network)}`);
      },
    };
    return [sidecarStep, ...nodes.steps()];
  }

  /**
   * Start the sidecar. As soon as etcd serves the host on its socket, lock it down (a user per node) and publish
   * what rig knows before the nodes do (`facts`), while the sidecar's veth goes in; `bridge` once dnsmasq serves on
   * the rig bridge (the nodes may be wired then).
   */
  private async startSidecar(
    network: RigNetwork,
    container: string,
    said: { started: () => void; facts: Deferred<Facts>; bridge: Deferred<void> },
  ): Promise<void> {
    const { engine, run } = this;
    const wired = deferred<void>();
    const etcdServes = deferred<string>();
    run.signal.throwIfAborted();
    const starting = engine.sidecars.start(this.plan, network, container, {
      started: said.started,
      wired: wired.resolve,
      etcdServes: etcdServes.resolve,
      bridgeServes: said.bridge.resolve,
    });
    run.track(Promise.race([wired.promise, starting])); // once wired, it makes nothing: it waits for the daemons to serve
    const prepared = engine.prepare([...new Set(this.plan.nodes.map((n) => n.spec.backend))]);
    run.track(prepared); // the tools are unpacked through a container of their own, removed when done
    // The sidecar's own failure says more than an etcd that did not answer: it comes first.
    const socket = Promise.race([etcdServes.promise, starting.then(() => etcdServes.promise)]);
    const seeded = socket.then((s) => this.seedFacts(network, s));
    seeded.then(said.facts.resolve, () => {}); // its failure is the step's, below
    await run.unlessAborted(Promise.all([seeded, starting, prepared]));
  }

  /**
   * Turn etcd's auth on (from its first write, a node can write only its own keys), then, as root, put what rig
   * knows before the nodes publish: production facts, and which node mirrors which live node.
   */
  private async seedFacts(network: RigNetwork, socket: string): Promise<Facts> {
    const { engine, plan, options, run } = this;
    const url = etcdUrl(network);
    const open = await run.unlessAborted(engine.facts({ url, socket }));
    await run
      .unlessAborted(
        open.lockDown(
          plan.name,
          this.etcdRootPassword,
          plan.nodes.map((n) => n.spec.name),
        ),
      )
      .catch(etcdUnanswered(url))
      .finally(() => open.close());
    const store = await run.unlessAborted(engine.facts({ url, rootPassword: this.etcdRootPassword, socket }));
    this.store = store;
    // Before any node can publish a stage (they are let in after this): `rig trace` sees every one, with its time.
    this.recording = await run.unlessAborted(store.recordHistory(plan.name, { upStarted: this.startedAt })).catch(etcdUnanswered(url));
    // Production facts first: each node's agent publishes its own over them, so rig's win.
    const production = [...(options.productionFacts ?? new Map<string, Record<string, string>>())];
    // Which made-up node stands for which live node, so nodes can find "the node that mirrors straleb".
    const mirrored = plan.nodes.filter((n) => n.spec.mirrors);
    await run
      .unlessAborted(
        Promise.all([
          ...production.map(([node, values]) => store.putFacts(plan.name, node, values)),
          ...mirrored.map((n) => store.setMark(plan.name, `mirrors/${n.spec.mirrors}`, n.spec.name)),
        ]),
      )
      .catch(etcdUnanswered(url));
    return store;
  }

  private startDeadline(): void {
    const { plan, options } = this;
    // Each node's clock starts once it is launched, and the engine launches a big rig's nodes in turn: the grace grows.
    const limitMs = options.timeoutMs + scaledWaitMs(SILENCE_GRACE_MS + DEADLINE_GRACE_MS, plan.nodes.length);
    const why = () =>
      this.sidecarServes
        ? `Rig ${plan.name} was not ready within ${limitMs / 1000} s (--timeout ${options.timeoutMs / 1000} s and a grace).`
        : `The sidecar of rig ${plan.name} (dnsmasq and etcd at ${this.network ? etcdUrl(this.network) : 'its network'}) did not answer within ${limitMs / 1000} s (--timeout ${options.timeoutMs / 1000} s and a grace).`;
    const hint =
      'is the sidecar running and reachable from the host (docker ps; no host route over the rig subnet)? A longer --timeout gives slow nodes more time';
    this.deadline = setTimeout(() => this.run.abort(new RigError(why(), hint, ExitCode.timeout)), limitMs);
  }

  /**
   * Stop the steps, wait for what is being made to exist, then remove what this up made: the whole rig (by its
   * label) if this up owns the rig name (unless `keep`), else only its own network.
   */
  private async removeWhatWasMade(keep: boolean, failure: unknown): Promise<Cleaned> {
    this.run.abort(new RigError(`up of rig ${this.plan.name} was stopped`));
    clearTimeout(this.deadline);
    await this.run.settled();
    this.store?.close();
    const parts = this.network && { network: this.network, sidecar: this.sidecarContainer };
    if (parts && (await takenDown(this.engine, this.plan.name, parts, mayBeTakenDown(failure), this.options.downSettleMs))) {
      await removeStragglers(this.engine, this.plan.name, this.claimed ? this.network : undefined);
      return 'gone';
    }
    if (!this.claimed) {
      if (!this.network) return 'nothing';
      await this.engine.runtime.removeOwnNetwork(this.network.id, this.plan.name);
      return 'network';
    }
    if (keep) return 'kept';
    await destroyRig(this.engine, this.plan.name);
    return 'rig';
  }
}

/** The steps of `rig up` (see RigUp). */
export function upSteps(engine: Engine, plan: Plan, options: UpOptions): UpRun {
  return new RigUp(engine, plan, options);
}

export const alreadyUp = (rig: string) =>
  new RigError(
    `A rig named ${rig} is already up, or being brought up.`,
    `bring it down first (rig down --name ${rig}), or give this one another name with --name`,
    ExitCode.badInput,
  );

/**
 * Whether the rig was taken down (rig down, or anything else that removed it) while an up or a reconcile worked on
 * it: its network, or its sidecar, is gone or going. The parts are those the up made or the reconcile found, by id:
 * a rig of that name made since by another up is not this one. A `rig down` half way (it removes the nodes and the
 * sidecar at once, the network last) may not show yet, even in the containers' states (a container being killed
 * is still "running"): so after a failure that a down can cause (`suspect`), the network's removal is waited for, a
 * little while (the engine's event, no polling). An engine that does not answer tells nothing: false.
 */
export async function takenDown(
  engine: Engine,
  rig: string,
  parts: { network: { id: string }; sidecar?: string },
  suspect = true,
  settleMs = DOWN_SETTLE_MS,
): Promise<boolean> {
  try {
    const [networks, containers] = await Promise.all([engine.runtime.networks(rig), engine.runtime.containers(rig)]);
    if (!networks.some((n) => n.id === parts.network.id)) return true;
    const sidecar = parts.sidecar === undefined ? undefined : containers.find((c) => c.id === parts.sidecar);
    if (parts.sidecar !== undefined && (!sidecar || ['removing', 'dead'].includes(sidecar.state))) return true;
    return suspect && (await networkGoes(engine, rig, parts.network.id, settleMs));
  } catch {
    return false;
  }
}

/**
 * A failure that a rig down under way can cause: a node or the sidecar that died or could not be started or
 * reached, an engine's error. Not a node's own failed step, bad input or an interrupt: those are what they say.
 */
export function mayBeTakenDown(failure: unknown): boolean {
  if (failure === undefined) return false;
  if (failure instanceof NodeNotReady) return failure.cause instanceof NodeFailed && failure.cause.reason === 'stopped';
  return !(failure instanceof RigError && ([ExitCode.badInput, ExitCode.interrupted] as number[]).includes(failure.exitCode));
}

/**
 * How long a rig down that has begun (a node died, the rest still looks up) may take to remove the network: about
 * 0.3 s here, but several seconds on a loaded machine, where its removes wait their turn (seen: more than 3 s at a
 * load of 25 on two cores). (A down removes the sidecar at once: one that halts systemd nodes first shows as a
 * sidecar gone.) Only a failure a down can cause waits for it.
 */
const DOWN_SETTLE_MS = 10_000;

/** Whether the network goes within `ms`: its destroy event, or it is gone once the events are followed. */
async function networkGoes(engine: Engine, rig: string, id: string, ms: number): Promise<boolean> {
  let settle!: (ended: boolean) => void;
  const ended = new Promise<boolean>((resolve) => (settle = resolve));
  const stop = await engine.runtime.watchStarts(
    rig,
    id,
    () => {},
    () => settle(true),
  );
  const timer = setTimeout(() => settle(false), ms);
  const there = async () => (await engine.runtime.networks(rig)).some((n) => n.id === id);
  try {
    if (!(await there())) return true;
    // The events end when the network goes, or when the engine's stream ends: the network says which.
    return (await ended) && !(await there());
  } finally {
    clearTimeout(timer);
    stop();
  }
}

/**
 * After the rig was taken down under an up or a reconcile: remove what it made that the down did not see (a node
 * made after the down listed the rig's containers), by the rig's label, once the rig's network is gone, unless
 * another up has the name by now (a network of that name that is not `ours`). Without `ours` (the up never owned
 * the name), nothing.
 */
export async function removeStragglers(engine: Engine, rig: string, ours: { id: string } | undefined): Promise<void> {
  if (!ours) return;
  const others = (await engine.runtime.networks(rig)).filter((n) => n.id !== ours.id);
  if (!others.length) await destroyRig(engine, rig);
}

/** What `up` says when the rig went under it: it was taken down meanwhile, and nothing of it is left to look at. */
export const takenDownError = (rig: string, doing: 'bringing it up' | 'changing it', again: string, cause?: unknown) =>
  new RigError(
    `Rig ${rig} was taken down while this rig up was ${doing} (its network or its sidecar was removed: rig down, or another process); nothing of it is left.`,
    `bring it up again with: ${again}`,
    ExitCode.failed,
    { cause },
  );

/** A call of the host's to the rig's etcd that got no answer in time is a timeout (exit 4), and says so. */
export const etcdUnanswered = (url: string) => async (err: Error) => {
  if (err instanceof RigError) throw err;
  if (unanswered(err)) {
    throw new RigError(
      `The rig's etcd at ${url} did not answer: ${err.message}`,
      'is the sidecar running and reachable from the host? (docker ps; ip route get ADDRESS)',
      ExitCode.timeout,
      { cause: err },
    );
  }
  throw err;
};

/** Every container name the rig will take must be free; one taken by something else is bad input, not a crash later. */
export async function checkContainerNames(engine: Engine, plan: Plan, { sidecar = true } = {}): Promise<void> {
  const names = [
    ...(sidecar ? [plan.sidecar.container] : []),
    ...plan.nodes.filter((n) => n.spec.backend === 'docker').map((n) => n.container),
  ];
  const taken = await engine.runtime.containersNamed(names);
  if (!taken.length) return;
  if (taken.some((c) => c.rig === plan.name)) throw alreadyUp(plan.name);
  throw new RigError(
    `The container name${taken.length > 1 ? 's' : ''} ${taken.map((c) => c.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} taken by ${taken.length > 1 ? 'containers' : 'a container'} rig did not make for rig ${plan.name}.`,
    'remove or rename that container (docker rm NAME), or give the rig another name with --name',
    ExitCode.badInput,
  );
}

type Deferred<T> = ReturnType<typeof deferred<T>>;

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // whoever awaits it handles the failure
  return { promise, resolve, reject };
}

/** The image rig builds that a node runs (rig's base by default, rig:systemd for init: systemd), if it runs one. */
export function rigImageOf(spec: NodeSpec): ImageName | undefined {
  if (!spec.image) return spec.init === 'systemd' ? 'systemd' : 'base';
  return spec.image.startsWith('rig:') ? (spec.image.slice(4) as ImageName) : undefined;
}

/** A node's image: one rig builds (rigImageOf), else the user's own. */
function nodeImage(engine: Engine, spec: NodeSpec): string {
  const own = rigImageOf(spec);
  return own ? engine.images.ref(own) : spec.image!;
}

/**
 * Every node image named in the rig file exists: one of rig's own (rig:NAME), or one in the engine (no registry is
 * ever asked). Each node whose image is not is reported at its line in the rig file.
 */
export async function checkNodeImages(engine: Engine, plan: Plan): Promise<void> {
  const at = (n: PlannedNode) => `${plan.spec.file}:${n.spec.line}: node ${n.spec.name}`;
  const unknown = plan.nodes.filter(
    ({ spec: { image } }) => image?.startsWith('rig:') && !NODE_IMAGES.includes(image.slice(4) as ImageName),
  );
  if (unknown.length) {
    throw new RigError(
      `rig builds no such node image:\n${unknown.map((n) => `  ${at(n)}: image ${n.spec.image}`).join('\n')}`,
      `rig's node images: ${NODE_IMAGES.map((n) => `rig:${n}`).join(', ')}`,
      ExitCode.badInput,
    );
  }
  const named = [...new Set(plan.nodes.map((n) => n.spec.image).filter((i): i is string => !!i && !i.startsWith('rig:')))];
  const missing = new Set<string>();
  await Promise.all(named.map(async (image) => (await engine.runtime.imageExists(image)) || missing.add(image)));
  if (missing.size) {
    const users = plan.nodes.filter((n) => missing.has(n.spec.image!));
    const what = missing.size > 1 ? `${missing.size} node images are` : `Node image ${[...missing][0]} is`;
    throw new RigError(
      `${what} not in the Docker engine, and rig uses no registry:\n${users.map((n) => `  ${at(n)}: image ${n.spec.image} not found`).join('\n')}`,
      `build or load the image${missing.size > 1 ? 's' : ''} first (docker build / docker load / docker import), or remove image: to use rig's own Debian base`,
      ExitCode.badInput,
    );
  }
  await checkSystemdImages(engine, plan);
}

/** rig's own images with systemd in them; a user's image is looked into (a container made, never started). */
const SYSTEMD_IMAGES: readonly ImageName[] = ['systemd', 'puppet'];
const SYSTEMD_PATHS = ['/usr/lib/systemd/systemd', '/lib/systemd/systemd'];

async function checkSystemdImages(engine: Engine, plan: Plan): Promise<void> {
  const probed = new Map<string, Promise<boolean>>();
  const hasSystemd = (spec: NodeSpec): Promise<boolean> => {
    const own = rigImageOf(spec);
    if (own) return Promise.resolve(SYSTEMD_IMAGES.includes(own));
    let found = probed.get(spec.image!);
    if (!found) probed.set(spec.image!, (found = engine.runtime.imageHasFile(spec.image!, SYSTEMD_PATHS)));
    return found;
  };
  for (const { spec } of plan.nodes.filter((n) => n.spec.init === 'systemd')) {
    if (await hasSystemd(spec)) continue;
    const image = spec.image ?? `rig:${rigImageOf(spec)}`;
    throw new RigError(
      `${plan.spec.file}:${spec.line}: node ${spec.name} has init: systemd, but its image ${image} has no systemd (${SYSTEMD_PATHS.join(' or ')}).`,
      'install systemd-sysv in the image, use image: rig:systemd (or rig:puppet), or remove init: systemd',
      ExitCode.badInput,
    );
  }
}

export interface Abortable {
  making: <T>(work: () => Promise<T>) => Promise<T>;
  unlessAborted: <T>(wait: Promise<T>) => Promise<T>;
  signal: AbortSignal;
}

/** One step per node: launch it, then follow the stages it publishes itself until it is ready or dies. */
export function nodeSteps(
  engine: Engine,
  plan: Plan,
  network: RigNetwork,
  sidecarStarted: Promise<void>,
  sidecar: Promise<Facts>,
  options: UpOptions & { etcdRootPassword: string },
  run: Abortable,
): Step[] {
  return new NodeStarts(engine, plan, network, sidecarStarted, sidecar, options, run).steps();
}

/**
 * The nodes of one up (or reconcile): one etcd watch of their stages and one stream of their deaths for all of
 * them, subscribed before any node can write to etcd, and each node's wait for ready on it. The watches stop when
 * the last node's step ends. A node's `created` goes to etcd before it can write its own stage: before it is wired
 * to the bridge, or, where the sidecar keeps the nodes out of etcd until this up lets them in (`gate`), before
 * that (`admitted`), so that the nodes may be wired as soon as the bridge serves.
 */
class NodeStarts {
  private readonly waiters = new Map<string, Waiter>();
  private readonly subscribed: Promise<void>;
  /** Every node's `created` is in etcd and their stages are watched: they may be let into etcd. */
  readonly admitted: Promise<void>;
  private readonly url: string;
  private stopStages?: Promise<() => Promise<void>>;
  private stopDeaths?: () => void;
  private stopHostSteps?: Promise<() => void>; // ansible steps, run from the host while the nodes provision
  private remaining: number;

  constructor(
    private readonly engine: Engine,
    private readonly plan: Plan,
    private readonly network: RigNetwork,
    private readonly sidecarStarted: Promise<void>,
    private readonly sidecar: Promise<Facts>,
    private readonly options: UpOptions & { etcdRootPassword: string },
    private readonly run: Abortable,
    private readonly gate?: { bridge: Promise<void> },
  ) {
    this.remaining = plan.nodes.length;
    this.url = etcdUrl(network);
    this.subscribed = this.subscribe();
    this.subscribed.catch(() => {}); // each node's wait reports it
    this.admitted = gate ? Promise.all([this.subscribed, ...plan.nodes.map((n) => this.created(n))]).then(() => {}) : this.subscribed;
    this.admitted.catch(() => {}); // the sidecar's step reports it
  }

  steps(): Step[] {
    return this.plan.nodes.map((node) => ({ title: node.spec.name, run: (report) => this.start(node, report) }));
  }

  /** Subscribe before any node is wired to the bridge, so no stage and no death is missed. */
  private async subscribe(): Promise<void> {
    const deaths = this.engine.runtime.watchDeaths(this.plan.name, (node) =>
      this.waiters.get(node)?.fail(new NodeFailed('stopped', 'stopped before it was ready')),
    );
    // Subscribed while the sidecar starts; stopped at once if every node's step ended (a failure) before that.
    deaths.then((stop) => ((this.stopDeaths = stop), this.remaining === 0 && stop())).catch(() => {});
    const facts = await this.sidecar;
    this.stopStages = facts.watchStages(this.plan.name, (node, stage) => this.waiters.get(node)?.stage(stage));
    this.stopHostSteps = serveHostSteps(
      this.engine,
      facts,
      this.plan.name,
      this.plan.nodes.map((n) => n.spec),
    );
    this.stopHostSteps.catch(() => {}); // a node's ansible step waits for its answer until its deadline, and says so
    await Promise.all([this.stopStages.catch(etcdUnanswered(this.url)), deaths]);
    if (this.remaining === 0) this.stopWatching(); // every node ended (an abort) while this was on its way
  }

  private created(node: PlannedNode): Promise<void> {
    return this.sidecar.then((facts) => facts.setStage(this.plan.name, node.spec.name, 'created')).catch(etcdUnanswered(this.url));
  }

  private stopWatching(): void {
    void this.stopStages?.then((stop) => stop()).catch(() => {});
    void this.stopHostSteps?.then((stop) => stop()).catch(() => {});
    this.stopDeaths?.();
  }

  private async start(node: PlannedNode, report: (line: string) => void): Promise<void> {
    const { engine, plan, network, options, run } = this;
    const backend = engine.backends[node.spec.backend];
    if (!backend) throw new InternalError(`no ${node.spec.backend} backend, after the check that there is one`);
    const ready = waitReady(node, report, this.waiters, options.timeoutMs);
    // The backend wires the node to the bridge once this resolves: the bridge serves and, where the sidecar does not
    // keep the node out of etcd (a reconcile), its stage is recorded and watched. A new rig's wait for its bridge ends
    // at an interrupt (the rig goes whole); a reconcile's does not: an interrupt then leaves the rig up as far as it
    // got, and a node it started is wired (two etcd calls, each with its deadline), never a running node cut off.
    const wired = this.gate
      ? run.unlessAborted(this.gate.bridge)
      : Promise.all([this.subscribed, this.created(node)]).then(() => {}, etcdUnanswered(this.url));
    try {
      try {
        await run.making(() =>
          backend.launch({ ...nodeLaunch(engine, plan, node, network, options, this.sidecarStarted, wired), signal: run.signal }),
        );
      } catch (err) {
        if (run.signal.aborted) throw run.signal.reason;
        throw await launchFailure(err as Error, node, wired);
      }
      ready.launched();
      if (!options.wait) return;
      await run.unlessAborted(ready.promise).catch(async (err: Error) => {
        if (run.signal.aborted) throw run.signal.reason;
        throw await notReady(err, node, backend, plan.name);
      });
    } finally {
      ready.cancel();
      this.waiters.delete(node.spec.name);
      if (--this.remaining === 0) this.stopWatching();
    }
  }
}

/** What a backend is told to launch one node with: its image, the agent's environment, when to start and wire it. */
function nodeLaunch(
  engine: Engine,
  plan: Plan,
  node: PlannedNode,
  network: RigNetwork,
  options: UpOptions & { etcdRootPassword: string },
  mayStart: Promise<void>,
  networkReady: Promise<void>,
): NodeLaunch {
  const etcd = { url: etcdUrl(network), password: nodePassword(options.etcdRootPassword, node.spec.name) };
  return {
    rig: plan.name,
    node,
    bridge: network.bridge,
    image: nodeImage(engine, node.spec),
    env: { ...agentEnv(plan, node, etcd, Math.ceil(options.timeoutMs / 1000)), ...(options.idempotent ? { RIG_IDEMPOTENT: '1' } : {}) },
    repoDir: plan.spec.dir,
    links: options.nodeLinks?.get(node.spec.name) ?? [],
    mayStart,
    networkReady,
  };
}

/** Why a node could not be launched, in the user's words: the sidecar failed first, its name is taken, or else. */
async function launchFailure(err: Error, node: PlannedNode, wired: Promise<void>): Promise<RigError> {
  const sidecarFailure = await wired.then(
    () => undefined,
    (e: Error) => e,
  );
  if (sidecarFailure) {
    const why = sidecarFailure instanceof RigError ? sidecarFailure.message : 'the sidecar failed';
    return new RigError(`${node.spec.name} not started: ${why}`, undefined, (sidecarFailure as RigError).exitCode ?? ExitCode.failed);
  }
  if (isConflict(err)) {
    return new RigError(
      `${node.spec.name} could not start: the container name ${node.container} is taken.`,
      'remove that container, or give the rig another name with --name',
      ExitCode.badInput,
    );
  }
  return new RigError(
    `${node.spec.name} could not start (${node.spec.backend} ${node.container}): ${err.message}`,
    "check the node's image and backend settings in the rig file",
    undefined,
    { cause: err },
  );
}

/** A node that did not get ready: why, with its log's last lines; a wait of its own that ran out is a timeout (exit 4). */
async function notReady(err: Error, node: PlannedNode, backend: NodeBackend, rig: string): Promise<NodeNotReady> {
  const instance = { rig, node: node.spec.name, backend: node.spec.backend, name: node.container, running: false, validate: [] };
  const log = await settledLog(() => backend.logs(instance), err instanceof NodeFailed && err.reason === 'failed');
  const timedOut = err instanceof NodeFailed ? err.timedOut : err instanceof RigError && err.exitCode === ExitCode.timeout;
  const detail = log ? `its log ends:\n${printableLines(tail(log))}` : undefined;
  return new NodeNotReady(node.spec.name, `${node.spec.name} ${err.message}`, timedOut ? ExitCode.timeout : ExitCode.failed, {
    cause: err,
    detail,
  });
}

/** How long the engine may take to copy a failed node's last lines into its log (Docker's copy lags the process's output). */
const LOG_SETTLE_MS = 10_000; // a loaded machine lagged past 3 s; the usual case returns at once

/**
 * A node's log, read again until it holds the agent's own failure line (written just before it published the stage
 * rig saw), so the tail shows why the step failed; after LOG_SETTLE_MS the log as it is.
 */
async function settledLog(read: () => Promise<string>, published: boolean): Promise<string> {
  const deadline = Date.now() + LOG_SETTLE_MS;
  for (;;) {
    const log = await read().catch(() => '');
    if (!published || /^rig-agent: failed/m.test(log) || Date.now() >= deadline) return log;
    await sleep(100);
  }
}

const SILENCE_GRACE_MS = 10_000;

/** The stage a node's agent publishes when a wait of its own ran out (rig-fact's exit 124). */
const TIMED_OUT_STAGE = 'failed (timeout)';
/** The whole up's deadline comes after every node's own (--timeout and the silence grace), so theirs speak first. */
const DEADLINE_GRACE_MS = 5_000;

interface Waiter {
  stage: (stage: string) => void;
  fail: (err: Error) => void;
}

/**
 * A node's way to ready, driven by the stages it publishes (etcd watch) and its death (Docker events). Its clock
 * starts once it is `launched` (its container runs, wired): in a big rig a node may wait long for its engine calls'
 * turn (see runtime/pacing.ts), and its agent's own waits start only then.
 */
function waitReady(node: PlannedNode, report: (line: string) => void, waiters: Map<string, Waiter>, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  let launched = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    let last = 'created';
    // A node's own waits end at timeoutMs and report exactly what they waited for; the host gives up on a node
    // that says nothing a little later, so that the node's precise message comes first.
    const limit = timeoutMs + SILENCE_GRACE_MS;
    launched = () =>
      void (timer ??= setTimeout(
        () => reject(new RigError(`not ready after ${limit / 1000} s (last stage: ${last})`, undefined, ExitCode.timeout)),
        limit,
      ));
    waiters.set(node.spec.name, {
      stage: (stage) => {
        last = stage;
        report(printable(stage));
        if (stage === 'ready') resolve();
        else if (stage.startsWith('failed')) reject(new NodeFailed('failed', printable(stage), stage.startsWith(TIMED_OUT_STAGE)));
      },
      fail: reject,
    });
  });
  promise.catch(() => {}); // a node that never launched has nobody waiting on it
  return { promise, launched: () => launched(), cancel: () => clearTimeout(timer) };
}
