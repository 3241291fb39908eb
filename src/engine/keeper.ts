import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from './owner.js';
import { ownScript } from '../package-root.js';
import { Label } from '../labels.js';
import { RigError } from '../errors.js';
import { nodeWiring, sidecarWiring } from '../runtime/veth.js';
import type { Engine } from './context.js';
import { hostAccess, withFacts } from './status.js';
import { FactStore } from '../facts/store.js';

/**
 * A rig's keeper: a small detached process for each rig that is up, so that a Docker node or the sidecar that
 * restarts (`docker restart`, a crash under a restart policy) gets its wiring back. A restarted container has a
 * new network namespace and no eth0: the keeper hears its `start` (a Docker event, no polling), puts a new veth
 * with the planned name and MAC on the rig bridge and moves it in; the node's agent takes it from there (the
 * same MAC gets the same lease). It ends when the rig's network is removed. LXC nodes need none: LXC makes
 * their veth itself on every start.
 */
export async function startKeeper(rig: string, deadlineMs = KEEPER_START_MS): Promise<void> {
  await spawnKeeper(rig, false).start(deadlineMs);
}

/** A keeper process on its way: `start` lets it keep the rig and waits until it does; `cancel` ends it unused. */
export interface KeeperLaunch {
  start(deadlineMs?: number): Promise<void>;
  cancel(): void;
}

/**
 * A keeper started ahead of need: its Node process starts and loads its modules (most of the 0.3 s a keeper takes
 * to start) while `up` makes the rig, then waits on its standard input. `start` tells it to go on; the end of its
 * input before that (an up that failed, was interrupted or killed) ends it, having touched nothing.
 */
export const preloadKeeper = (rig: string): KeeperLaunch => spawnKeeper(rig, true);

function spawnKeeper(rig: string, onGo: boolean): KeeperLaunch {
  const script = ownScript('keeper');
  // The rig's name stays the last argument: that is how a person (and a test) finds a rig's keeper in ps.
  const args = onGo ? [script, KEEPER_ON_GO, rig] : [script, rig];
  const child = spawn(process.execPath, args, { detached: true, stdio: [onGo ? 'pipe' : 'ignore', 'pipe', 'ignore'] });
  const stdout = child.stdout!; // piped, as asked
  child.stdin?.on('error', () => {}); // a keeper that ended already: start says so by its exit
  // It says `keeping` once it hears the engine's events (or ends at once: another keeper keeps the rig). Waiting for
  // that means a node that restarts the moment `up` returns is wired again, and `status` sees the keeper at once.
  const keeping = new Promise<boolean>((resolve) => {
    stdout.on('data', (chunk: Buffer) => chunk.toString().includes('keeping') && resolve(true));
    child.on('exit', () => resolve(false));
    child.on('error', () => resolve(false));
  });
  const letGo = () => {
    stdout.destroy();
    child.unref();
  };
  return {
    async start(deadlineMs = KEEPER_START_MS) {
      child.stdin?.end('go\n');
      let timer: NodeJS.Timeout | undefined;
      const started = await Promise.race([
        keeping,
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs))),
      ]);
      clearTimeout(timer);
      letGo();
      if (!started) {
        throw new RigError(
          `The keeper of rig ${rig} did not start within ${deadlineMs / 1000} s.`,
          'see rig doctor; until a keeper runs, a node that restarts is not wired again (rig up starts one)',
        );
      }
    },
    cancel() {
      child.stdin?.end(); // no "go": it ends by itself, having done nothing
      letGo();
    },
  };
}

/** The keeper's first argument when it is to wait for "go" on its standard input (see preloadKeeper). */
export const KEEPER_ON_GO = '--on-go';

const KEEPER_START_MS = 15_000;
/** How long a keeper waits for its stage recorder to start before it goes on with its own work (see StageRecorder). */
const RECORDER_START_MS = 5_000;

/** Where a rig's keeper says it runs: its pid, in the sidecar's state directory (which goes with the rig). */
const keeperPidFile = (sidecarLabels: Record<string, string>) => join(sidecarLabels[Label.state] ?? '', 'keeper.pid');

/** Whether the rig's keeper runs: the process its pid file names is alive and is a keeper. */
export function keeperAlive(sidecarLabels: Record<string, string>): boolean {
  const file = keeperPidFile(sidecarLabels);
  if (!sidecarLabels[Label.state] || !existsSync(file)) return false;
  const pid = Number(readFileSync(file, 'utf8'));
  try {
    return processAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('keeper.js');
  } catch {
    return false; // gone between the two looks
  }
}

/**
 * Say that this process keeps the rig, unless a keeper already does: false then (one keeper per rig is enough,
 * and `up` of a rig whose keeper died starts one again).
 */
function registerKeeper(sidecarLabels: Record<string, string>): boolean {
  if (keeperAlive(sidecarLabels)) return false;
  writeFileSync(keeperPidFile(sidecarLabels), String(process.pid));
  return true;
}

export async function keep(engine: Engine, rig: string, log: (line: string) => void, keeping = () => {}): Promise<void> {
  const { rigs, wiring } = engine;
  const [[network], containers] = await Promise.all([rigs.networks(rig), rigs.containers(rig)]);
  const sidecar = containers.find((c) => c.role === 'sidecar');
  if (!network || !sidecar) return;
  if (!registerKeeper(sidecar.labels)) return keeping(); // another keeper keeps it
  const recorder = new StageRecorder(hostAccess(network, sidecar.labels, rig), log);
  await recorder.startWithin(RECORDER_START_MS);
  const rewire = async (id: string, labels: Record<string, string>) => {
    const node = labels[Label.node];
    const veth = labels[Label.role] === 'sidecar' ? sidecarWiring(rig) : node ? nodeWiring(rig, node) : undefined;
    if (!veth) return;
    const what = node ?? 'the sidecar';
    try {
      const state = await wiring.containerState(id);
      if (!state.stoppedBefore) return; // a first start is a new node's (a reconcile's): whoever launched it wires it
      if (node) await markRestarted(engine, rig, node);
      if (!state.running) return;
      await wiring.wire(network.bridge, veth.hostInterface, veth.mac, state.pid);
      log(`${what} restarted: wired to ${network.bridge} again`);
      if (!node) await recorder.start(); // its etcd is back: take up recording where it stopped
    } catch (err) {
      log(`${what} restarted, but could not be wired again: ${(err as Error).message}`);
    }
  };
  const deaths = new Deaths(hostAccess(network, sidecar.labels, rig), log);
  // Every backend that hears its nodes die (Docker's events); one that does not leaves its nodes' leases to run out.
  const stops = await Promise.all(Object.values(engine.backends).map((b) => b.watchDeaths?.(rig, (node) => deaths.letGo(node))));
  const stopDeaths = () => stops.forEach((stopOne) => stopOne?.());
  let stop = () => {};
  await new Promise<void>((resolve) => {
    void rigs
      .watchStarts(rig, network.id, (id, labels) => void rewire(id, labels), resolve)
      .then(async (stopWatching) => {
        stop = stopWatching;
        keeping();
        // A network removed between the look-up and the subscription would never say so: look once more.
        if (!(await rigs.networks(rig)).length) resolve();
      }, resolve);
  });
  stop();
  stopDeaths();
  deaths.close();
  await recorder.stop();
}

/**
 * A node the engine says died (a `docker kill`, a crash, a stop) is lost to its peers at once: its lease is revoked
 * (FactStore.letGo) rather than left to run out. One connection for all of them (a root login costs etcd a bcrypt).
 */
class Deaths {
  private facts?: Promise<FactStore>;

  constructor(
    private readonly access: ReturnType<typeof hostAccess>,
    private readonly log: (line: string) => void,
  ) {}

  letGo(node: string): void {
    this.facts ??= FactStore.connect(this.access);
    this.facts
      .then((facts) => facts.letGo(this.access.rig, node))
      .catch((err: Error) => {
        this.facts = undefined; // the sidecar may have gone (a down) or restarted: connect again next time
        this.log(`${node} died; its alive key is left to run out: ${err.message}`);
      });
  }

  close(): void {
    void this.facts?.then((facts) => facts.close()).catch(() => {}); // a connection never made needs no closing
  }
}

/**
 * For `rig trace`: the stages the nodes publish while the rig lives, with the times they are seen (see
 * facts/history.ts), taken over from the last one recorded (by the up, or by this keeper before its etcd went).
 * Failing to record never stops the keeper's own work.
 */
class StageRecorder {
  private facts?: FactStore;
  private stopRecording?: () => Promise<void>;

  constructor(
    private readonly access: ReturnType<typeof hostAccess>,
    private readonly log: (line: string) => void,
  ) {}

  async start(): Promise<void> {
    if (this.stopRecording) return;
    try {
      this.facts ??= await FactStore.connect(this.access);
      this.stopRecording = await this.facts.recordHistory(this.access.rig, {
        resume: true,
        onGone: (err) => {
          this.stopRecording = undefined;
          this.log(`stopped recording stages for rig trace until the sidecar restarts: ${err.message}`);
        },
      });
    } catch (err) {
      this.log(`cannot record stages for rig trace: ${(err as Error).message}`);
    }
  }

  /** Start, but wait at most `ms` for it: the keeper's own work does not wait on an etcd slow to answer. */
  async startWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.start(), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await this.stopRecording?.().catch(() => {}); // the keeper ends: a record it could not stop is the history's last
    this.facts?.close();
  }
}

/** The stage says so at once: a restarted node is not `ready` until its agent says it is again. */
async function markRestarted(engine: Engine, rig: string, node: string): Promise<void> {
  const sidecar = (await engine.rigs.containers(rig)).find((c) => c.role === 'sidecar');
  const [network] = await engine.rigs.networks(rig);
  if (sidecar?.state !== 'running' || !network) return;
  await withFacts(hostAccess(network, sidecar.labels, rig), (f) => f.setStage(rig, node, 'restarted'));
}
