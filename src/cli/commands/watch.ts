import { FactStore } from '../../facts/store.js';
import { factAccess, rigStatus, type RigStatus } from '../../engine/status.js';
import { ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { lineStream } from '../../runtime/docker/events.js';
import { createEngine } from '../engine.js';
import { outputMode } from '../progress.js';
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
  if (!rigs.length) throw new RigError(flags.name ? `No rig named ${flags.name} is up.` : 'No rig is up.', 'bring one up with: rig up RIGFILE', ExitCode.badInput);
  const mode = outputMode(!!flags.json);
  const redraw = async () => {
    const now = await rigStatus(engine, flags.name);
    process.stdout.write('\x1b[2J\x1b[H');
    printStatus(now, false);
  };
  if (mode === 'tty') await redraw();
  const stores = await Promise.all(rigs.map(async (rig: RigStatus) => FactStore.connect(await factAccess(engine, rig.rig))));
  await Promise.all(
    rigs.map((rig, i) =>
      stores[i].watchStages(rig.rig, (node, stage) => {
        if (mode === 'json') console.log(JSON.stringify({ time: new Date().toISOString(), rig: rig.rig, node, stage }));
        else if (mode === 'plain') console.log(`[${new Date().toISOString().slice(11, 19)}] ${rig.rig} ${printable(node)}: ${printable(stage)}`);
        else void redraw();
      }),
    ),
  );
  // Until interrupted, or until every watched rig is taken down: its sidecar (etcd) dies with it (a Docker event, no polling).
  const events = await engine.docker.getEvents({ filters: { type: ['container'], event: ['die'], label: [`${Label.role}=sidecar`] } });
  const alive = new Set(rigs.map((r) => r.rig));
  await new Promise<void>((resolve) => {
    lineStream(events, (line) => {
      alive.delete((JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.[Label.rig] ?? '');
      if (alive.size === 0) resolve();
    });
    process.once('SIGINT', () => resolve());
  });
  (events as unknown as { destroy(): void }).destroy();
  stores.forEach((s) => s.close());
}
