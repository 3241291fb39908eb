import { nodeWiring } from '../runtime/veth.js';
import type { Engine } from './context.js';
import { keeperAlive, startKeeper } from './keeper.js';
import { listNodes } from './nodes.js';
import { hostAccess, wired, withFacts } from './status.js';
import { RigError, ExitCode } from '../errors.js';
import { declarationOf } from '../runtime/kinds.js';

/**
 * Bring back what a rig that is up has lost before `up` compares it with its rig file: its keeper, started again
 * if it died; its sidecar, started again if it stopped (a Docker daemon restart stops every container); and each
 * running Docker node that restarted while no keeper ran, wired again in place and waited for until it is ready.
 * Stopped nodes are left to the reconcile, which makes them again. Returns what it did, a line each.
 */
export async function restoreRig(engine: Engine, rig: string, timeoutMs: number): Promise<string[]> {
  const { rigs, wiring } = engine;
  const [[network], containers] = await Promise.all([rigs.networks(rig), rigs.containers(rig)]);
  const sidecar = containers.find((c) => c.role === 'sidecar');
  if (!network || !sidecar) return []; // nothing to bring back: up says what is missing
  const done: string[] = [];
  if (!keeperAlive(sidecar.labels)) {
    await startKeeper(rig);
    done.push('its keeper started again');
  }
  if (sidecar.state !== 'running') {
    await engine.sidecars.startAgain(sidecar.id, timeoutMs); // the keeper wires it
    done.push('its sidecar started again');
  }
  const unwired = (await listNodes(engine, rig)).filter((n) => declarationOf(n.backend).wiredByHost && n.running && !wired(rig, n.node));
  if (!unwired.length) return done;
  await withFacts(hostAccess(network, sidecar.labels, rig), async (facts) => {
    const ready = new Set<string>();
    let allReady = () => {};
    const stop = await facts.watchStages(rig, (node, stage) => {
      if (stage === 'ready') ready.add(node);
      if (unwired.every((n) => ready.has(n.node))) allReady();
    });
    try {
      for (const node of unwired) {
        const { hostInterface, mac } = nodeWiring(rig, node.node);
        await facts.setStage(rig, node.node, 'restarted');
        await wiring.wire(network.bridge, hostInterface, mac, (await wiring.containerState(node.name)).pid);
      }
      await new Promise<void>((resolve, reject) => {
        allReady = resolve;
        setTimeout(
          () =>
            reject(
              new RigError(
                `${unwired.map((n) => n.node).join(', ')} did not get ready again within ${timeoutMs / 1000} s of being wired again.`,
                `see why with: rig logs NODE --name ${rig}`,
                ExitCode.timeout,
              ),
            ),
          timeoutMs,
        ).unref();
      });
    } finally {
      await stop();
    }
  });
  done.push(`${unwired.map((n) => n.node).join(', ')} wired again`);
  return done;
}
