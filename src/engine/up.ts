import { ExitCode, InternalError, RigError } from '../errors.js';
import { newRootPassword, type Facts } from '../facts/store.js';
import { Label } from '../labels.js';
import { rigSettings, rigSettingsHash, type Plan, type PlannedLink } from '../plan/plan.js';
import { NameTaken, type RigNetwork } from '../runtime/runtime.js';
import { scaledWaitMs } from '../runtime/pacing.js';
import { assignAddresses, etcdUrl } from '../plan/sidecar.js';
import { guardedPorts } from './ports.js';
import type { Engine, Step } from './context.js';
import { type LinkRecord } from '../runtime/backend.js';
import { destroyRig } from './down.js';
import { checkLinks, linksInUse, makeLinks } from './links.js';
import { AbortableRun, deferred, type Deferred } from './abortable.js';
import { checkContainerNames, checkNodeImages } from './up-checks.js';
import { NodeImages } from './builds.js';
import { alreadyUp, etcdUnanswered, mayBeTakenDown, removeStragglers, takenDown } from './taken-down.js';
import { DEADLINE_GRACE_MS, NodeStarts, SILENCE_GRACE_MS } from './node-starts.js';

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
  private readonly images: NodeImages;
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
    this.images = new NodeImages(engine, plan);
    const count = plan.nodes.length;
    this.steps = [
      { title: 'Check the rig', run: () => this.checkRig() },
      {
        title: 'Build images',
        skip: () => this.images.none,
        concurrent: () => [{ title: `Build ${this.images.refs.join(', ')}`, run: (report) => this.images.build(report, this.run) }],
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
    engine.rigs.place?.(plan.name, plan.segment); // a rig on LXD is looked for there alone: no Docker is asked
    // The engine's lists are read at once; the first check to fail in this order says what is wrong. The node
    // images' check may look into an image (a container made and removed): it comes last, alone.
    const quiet = <T>(p: Promise<T>) => (p.catch(() => {}), p);
    const inUse = quiet(plan.links.length ? linksInUse(engine, plan.name) : Promise.resolve(new Set<string>())); // no links: no rig to ask
    const running = quiet(engine.rigs.networks(plan.name));
    const names = quiet(checkContainerNames(engine, plan));
    const missing = quiet(engine.images.missing(this.images.rigImages(['sidecar', 'tools']), false, plan.segment));
    const links = checkLinks(plan.links, plan.spec.file, await inUse);
    this.linksUsed = [...links.toMake, ...links.shared];
    if (plan.spec.network.subnet) engine.network.checkSubnetFree(plan.spec.network.subnet);
    for (const kind of new Set(plan.nodes.map((n) => n.spec.backend))) {
      const backend = engine.backends[kind];
      if (!backend) throw new RigError(`The ${kind} backend is not available.`, 'use backend: docker', ExitCode.badInput);
      await backend.check?.(plan);
    }
    if ((await running).length) throw alreadyUp(plan.name);
    await names;
    await checkNodeImages(engine, plan);
    await this.images.check(missing);
  }

  private async createNetwork(report: (line: string) => void): Promise<void> {
    const { engine, plan, options, run } = this;
    this.startDeadline();
    const { network, firewall } = await run.making(() =>
      engine.network.createNetwork({
        name: plan.network,
        subnet: plan.spec.network.subnet,
        pool: plan.spec.network.pool,
        internal: plan.spec.network.internal,
        segment: plan.segment,
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
      engine.network.guardPorts(plan.name, network.id, guardedPorts(plan, assignAddresses(plan, network.addresses))),
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
          throw err instanceof NameTaken ? alreadyUp(plan.name) : err;
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
    const kinds = [...new Set(this.plan.nodes.map((n) => n.spec.backend))];
    const prepared = Promise.all(kinds.map((kind) => engine.backends[kind]?.prepare?.()));
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
      await this.engine.network.removeOwnNetwork(this.network.id, this.plan.name);
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
