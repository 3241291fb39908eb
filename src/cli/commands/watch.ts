import { FactStore } from '../../facts/store.js';
import { factAccess, rigStatus, type RigStatus } from '../../engine/status.js';
import { ExitCode, RigError } from '../../errors.js';
import { createEngine } from '../engine.js';
import type { Engine } from '../../engine/context.js';
import { outputMode } from '../progress.js';
import { note, warn } from '../output.js';
import { printStatus } from './status.js';
import { printable } from '../../printable.js';
import { shortName } from '../../plan/plan.js';

/**
 * Follow rigs as their nodes move through their stages: an etcd watch per rig, redrawn on every change
 * (a live table in a terminal, one line per change otherwise, JSON lines with --json). Runs until Ctrl-C,
 * or until every watched rig is gone.
 */
export async function watchStatus(flags: { name?: string; json?: boolean }): Promise<void> {
  const engine = await createEngine();
  const rigs = await rigsToWatch(engine, flags.name);
  const mode = outputMode(!!flags.json);
  const redraw = async () => {
    const now = await rigStatus(engine, flags.name);
    process.stdout.write('\x1b[2J\x1b[H');
    printStatus(now, false);
  };
  const show = (rig: string, node: string, stage: string) => showStage(mode === 'json', rig, node, stage);
  const stores: FactStore[] = [];
  const alive = new Set<string>();
  // A rig's etcd gone for good (its watch gave up on it) ends the whole watch with an error that says so.
  let lostEtcd: (err: Error) => void = () => {};
  let rigGone: (rig: string) => void = () => {};
  const stopEnds: Array<() => void> = [];
  const follow = async (rig: string) => {
    alive.add(rig);
    stopEnds.push(await untilTakenDown(engine, rig, () => rigGone(rig)));
    const store = await FactStore.connect(await factAccess(engine, rig));
    stores.push(store);
    await store.watchStages(
      rig,
      (node, stage) => (mode === 'tty' ? void redraw() : show(rig, node, stage)),
      (err) =>
        lostEtcd(new RigError(`Lost rig ${rig}: ${err.message}.`, `see its sidecar with: rig status --name ${rig}`, ExitCode.failed)),
      { lost: true },
    );
  };
  // Where each node of a rig stands when the watch starts following it (what came before is not replayed).
  const showCurrent = async (rig: string) => {
    if (mode === 'tty') return redraw();
    const [now] = await rigStatus(engine, rig);
    for (const n of now?.nodes ?? []) show(rig, n.fqdn, n.stage);
  };
  // A new rig's etcd serves a moment before its `up` has set up its users: try again, briefly, until it lets us in.
  const followOnceAuthIsSet = async (rig: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await follow(rig);
      } catch (err) {
        if (attempt >= 40) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  // Until interrupted, or until every watched rig is taken down: its sidecar (etcd) dies with it. A rig whose
  // sidecar starts while this watches (another `rig up`) is followed too, once its etcd serves. Docker events
  // and the sidecar's own log say when: no polling.
  let onSidecar: (event: { rig: string; id: string; action: 'start' | 'die' }) => void = () => {};
  const stopEvents = await engine.sidecars.watch((event) => onSidecar(event));
  // A rig going down as the watch starts cannot be followed; the others still are.
  const following = await Promise.allSettled(rigs.map((rig: RigStatus) => follow(rig.name)));
  const lost = following.flatMap((result, i) => (result.status === 'rejected' ? [{ rig: rigs[i].name, why: result.reason as Error }] : []));
  if (lost.length === rigs.length) throw lost[0].why;
  for (const { rig, why } of lost) {
    alive.delete(rig);
    warn(`cannot follow rig ${rig}: ${why.message}`);
  }
  if (mode === 'tty') await redraw();
  else for (const rig of rigs.filter((r) => alive.has(r.name))) await showCurrent(rig.name);
  await new Promise<void>((resolve, reject) => {
    lostEtcd = reject;
    rigGone = (rig) => {
      alive.delete(rig);
      if (alive.size === 0) resolve();
    };
    onSidecar = ({ rig, id, action }) => {
      // A sidecar that stops while its rig stays (a restart, a crash): its watch carries on from the last stage seen
      // once etcd is back, and gives up with an error if it is not back in time. One taken down with its rig: the
      // rig's network goes too, and untilTakenDown says so.
      if (action === 'die') return void (alive.has(rig) && note(`rig ${rig}: its sidecar (etcd) stopped`));
      if (alive.has(rig)) return note(`rig ${rig}: its sidecar is back`);
      if (!rig || (flags.name && rig !== flags.name)) return;
      alive.add(rig);
      void engine.sidecars
        .waitForLog(id, [/serving client traffic|ready to serve client requests/], 60_000)
        .then(() => followOnceAuthIsSet(rig))
        .then(() => showCurrent(rig))
        .catch(() => alive.delete(rig));
    };
    process.once('SIGINT', () => resolve());
  });
  stopEvents();
  stopEnds.forEach((stop) => stop());
  stores.forEach((s) => s.close());
}

async function rigsToWatch(engine: Engine, name: string | undefined): Promise<RigStatus[]> {
  const rigs = await rigStatus(engine, name);
  if (rigs.length) return rigs;
  throw new RigError(name ? `No rig named ${name} is up.` : 'No rig is up.', 'bring one up with: rig up RIGFILE', ExitCode.badInput);
}

/** One stage a node reached, as a line (a JSON line with --json). */
function showStage(json: boolean, rig: string, fqdn: string, stage: string): void {
  if (json) console.log(JSON.stringify({ time: new Date().toISOString(), rig, fqdn, name: shortName(fqdn), stage }));
  else console.log(`[${new Date().toISOString().slice(11, 19)}] ${rig} ${printable(fqdn)}: ${printable(stage)}`);
}

/** Call `onEnd` once the rig's network is removed (rig down): Docker's events, no polling. Resolves to a stop. */
async function untilTakenDown(engine: Engine, rig: string, onEnd: () => void): Promise<() => void> {
  const [network] = await engine.rigs.networks(rig);
  if (!network) {
    onEnd();
    return () => {};
  }
  return engine.rigs.watchStarts(rig, network.id, () => {}, onEnd);
}
