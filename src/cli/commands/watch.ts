import { FactStore } from '../../facts/store.js';
import { factAccess, rigStatus, type RigStatus } from '../../engine/status.js';
import { ExitCode, RigError } from '../../errors.js';
import { createEngine } from '../engine.js';
import { outputMode } from '../progress.js';
import { warn } from '../output.js';
import { printStatus } from './status.js';
import { printable } from '../../printable.js';

/**
 * Follow rigs as their nodes move through their stages: an etcd watch per rig, redrawn on every change
 * (a live table in a terminal, one line per change otherwise, JSON lines with --json). Runs until Ctrl-C,
 * or until every watched rig is gone.
 */
export async function watchStatus(flags: { name?: string; json?: boolean }): Promise<void> {
  const engine = await createEngine();
  const rigs = await rigStatus(engine, flags.name);
  if (!rigs.length)
    throw new RigError(
      flags.name ? `No rig named ${flags.name} is up.` : 'No rig is up.',
      'bring one up with: rig up RIGFILE',
      ExitCode.badInput,
    );
  const mode = outputMode(!!flags.json);
  const redraw = async () => {
    const now = await rigStatus(engine, flags.name);
    process.stdout.write('\x1b[2J\x1b[H');
    printStatus(now, false);
  };
  const show = (rig: string, node: string, stage: string) => {
    if (mode === 'json') console.log(JSON.stringify({ time: new Date().toISOString(), rig, node, stage }));
    else console.log(`[${new Date().toISOString().slice(11, 19)}] ${rig} ${printable(node)}: ${printable(stage)}`);
  };
  const stores: FactStore[] = [];
  const alive = new Set<string>();
  const follow = async (rig: string) => {
    alive.add(rig);
    const store = await FactStore.connect(await factAccess(engine, rig));
    stores.push(store);
    await store.watchStages(rig, (node, stage) => (mode === 'tty' ? void redraw() : show(rig, node, stage)));
  };
  // Where each node of a rig stands when the watch starts following it (what came before is not replayed).
  const showCurrent = async (rig: string) => {
    if (mode === 'tty') return redraw();
    const [now] = await rigStatus(engine, rig);
    for (const n of now?.nodes ?? []) show(rig, n.node, n.state);
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
  const stopEvents = await engine.runtime.watchSidecars((event) => onSidecar(event));
  // A rig going down as the watch starts cannot be followed; the others still are.
  const following = await Promise.allSettled(rigs.map((rig: RigStatus) => follow(rig.rig)));
  const lost = following.flatMap((result, i) => (result.status === 'rejected' ? [{ rig: rigs[i].rig, why: result.reason as Error }] : []));
  if (lost.length === rigs.length) throw lost[0].why;
  for (const { rig, why } of lost) {
    alive.delete(rig);
    warn(`cannot follow rig ${rig}: ${why.message}`);
  }
  if (mode === 'tty') await redraw();
  else for (const rig of rigs.filter((r) => alive.has(r.rig))) await showCurrent(rig.rig);
  await new Promise<void>((resolve) => {
    onSidecar = ({ rig, id, action }) => {
      if (action === 'die') {
        alive.delete(rig);
        if (alive.size === 0) resolve();
        return;
      }
      if (!rig || alive.has(rig) || (flags.name && rig !== flags.name)) return;
      alive.add(rig);
      void engine.runtime
        .waitForLog(id, [/serving client traffic|ready to serve client requests/], 60_000)
        .then(() => followOnceAuthIsSet(rig))
        .then(() => showCurrent(rig))
        .catch(() => alive.delete(rig));
    };
    process.once('SIGINT', () => resolve());
  });
  stopEvents();
  stores.forEach((s) => s.close());
}
