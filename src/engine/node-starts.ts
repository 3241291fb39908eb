import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, InternalError, NodeFailed, NodeNotReady, RigError } from '../errors.js';
import { nodePassword, type Facts } from '../facts/store.js';
import { printable, printableLines } from '../printable.js';
import { type Plan, type PlannedNode } from '../plan/plan.js';
import { NameTaken, type RigNetwork } from '../runtime/runtime.js';
import { etcdUrl } from '../plan/sidecar.js';
import type { Engine, Step } from './context.js';
import { tail, type NodeBackend, type NodeLaunch } from '../runtime/backend.js';
import { agentEnv } from './agent-env.js';
import type { UpOptions } from './up.js';
import type { Abortable } from './abortable.js';
import { etcdUnanswered } from './taken-down.js';
import { nodeImage } from './up-checks.js';
import { runsOnHost } from '../rigfile/steps.js';

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
export class NodeStarts {
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
    const onDeath = (node: string) => this.waiters.get(node)?.fail(new NodeFailed('stopped', 'stopped before it was ready'));
    const kinds = [...new Set(this.plan.nodes.map((n) => n.spec.backend))];
    const deaths = Promise.all(kinds.map((kind) => this.engine.backends[kind]?.watchDeaths?.(this.plan.name, onDeath))).then(
      (stops) => () => stops.forEach((stop) => stop?.()),
    );
    // Subscribed while the sidecar starts; stopped at once if every node's step ended (a failure) before that.
    deaths.then((stop) => ((this.stopDeaths = stop), this.remaining === 0 && stop())).catch(() => {});
    const facts = await this.sidecar;
    this.stopStages = facts.watchStages(this.plan.name, (node, stage) => this.waiters.get(node)?.stage(stage));
    const specs = this.plan.nodes.map((n) => n.spec);
    // the ansible steps' server (and Ansible's modules) is loaded only for a rig that has such steps
    this.stopHostSteps = specs.some((n) => runsOnHost(n.provision))
      ? import('./host-steps.js').then(({ serveHostSteps }) => serveHostSteps(this.engine, facts, this.plan.name, specs))
      : Promise.resolve(() => {});
    // a node's ansible step waits for its answer until its own deadline and says why it failed
    this.stopHostSteps.catch(() => {});
    await Promise.all([this.stopStages.catch(etcdUnanswered(this.url)), deaths]);
    if (this.remaining === 0) this.stopWatching(); // every node ended (an abort) while this was on its way
  }

  private created(node: PlannedNode): Promise<void> {
    return this.sidecar.then((facts) => facts.setStage(this.plan.name, node.spec.name, 'created')).catch(etcdUnanswered(this.url));
  }

  private stopWatching(): void {
    void this.stopStages?.then((stop) => stop()).catch(() => {}); // a watch that never started has nothing to stop
    void this.stopHostSteps?.then((stop) => stop()).catch(() => {}); // a server that never started has nothing to stop
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
  if (err instanceof NameTaken) {
    return new RigError(
      `${node.spec.name} could not start: the container name ${node.container} is taken.`,
      'remove that container, or give the rig another name with --name',
      ExitCode.badInput,
    );
  }
  // A backend's refusal (a name taken, a path it cannot use) keeps its exit code and its fix; a failure's own hint
  // would point at what `up` has removed by now.
  const refusal = err instanceof RigError && err.exitCode === ExitCode.badInput;
  return new RigError(
    `${node.spec.name} could not start (${node.spec.backend} ${node.container}): ${err.message}`,
    (refusal && err.hint) || "check the node's image and backend settings in the rig file",
    refusal ? ExitCode.badInput : undefined,
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

export const SILENCE_GRACE_MS = 10_000;

/** The stage a node's agent publishes when a wait of its own ran out (rig-fact's exit 124). */
const TIMED_OUT_STAGE = 'failed (timeout)';

/** The whole up's deadline comes after every node's own (--timeout and the silence grace), so theirs speak first. */
export const DEADLINE_GRACE_MS = 5_000;

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
