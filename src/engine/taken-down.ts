import { ExitCode, NodeFailed, NodeNotReady, RigError } from '../errors.js';
import { unanswered } from '../facts/store.js';
import type { Engine } from './context.js';
import { destroyRig } from './down.js';

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
    const [networks, containers] = await Promise.all([engine.rigs.networks(rig), engine.rigs.containers(rig)]);
    if (!networks.some((n) => n.id === parts.network.id)) return true;
    const sidecar = parts.sidecar === undefined ? undefined : containers.find((c) => c.id === parts.sidecar);
    if (parts.sidecar !== undefined && (!sidecar || ['removing', 'dead'].includes(sidecar.state))) return true;
    return suspect && (await networkGoes(engine, rig, parts.network.id, settleMs));
  } catch {
    // the engine did not answer: nothing says the rig went, so the failure is told as it came
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
  const stop = await engine.rigs.watchStarts(
    rig,
    id,
    () => {}, // a start is no sign either way
    () => settle(true),
  );
  const timer = setTimeout(() => settle(false), ms);
  const there = async () => (await engine.rigs.networks(rig)).some((n) => n.id === id);
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
  const others = (await engine.rigs.networks(rig)).filter((n) => n.id !== ours.id);
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
