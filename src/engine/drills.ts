// Failure drills on a rig that is up: a node stopped, started, killed, paused, unpaused, each recorded as an event
// in the rig's etcd (facts/events.ts). Links (partitions, loss, delay) are link-drills.ts's; a replace is
// replace.ts's (it is the reconcile of an up of the rig file, apply.ts's).
import { ExitCode, RigError } from '../errors.js';
import { recordEvent, type RigEvent } from '../facts/events.js';
import { nodeWiring } from '../runtime/veth.js';
import type { NodeInstance, PowerAction } from '../runtime/backend.js';
import type { Engine } from './context.js';
import { keeperAlive } from './keeper.js';
import { cutWhilePaused } from './link-drills.js';
import { factAccess, withFacts, wired } from './status.js';
import { printable } from '../printable.js';
import { declarationOf } from '../runtime/kinds.js';

/** Record a drill in the rig's etcd (its sidecar must run: a drill on a rig without one is refused before it starts). */
export async function recordDrill(engine: Engine, rig: string, event: RigEvent): Promise<void> {
  await withFacts(await factAccess(engine, rig), (facts) => recordEvent(facts, rig, event));
}

/** What a node's container is: running, stopped or paused. */
const stateOf = (n: NodeInstance) => (n.paused ? 'paused' : n.running ? 'running' : 'stopped');

/** The state each drill needs the node in, and the state it leaves it in. */
const TRANSITIONS: Record<PowerAction, { from: string[]; to: string }> = {
  stop: { from: ['running'], to: 'stopped' },
  kill: { from: ['running'], to: 'stopped' },
  start: { from: ['stopped'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  unpause: { from: ['paused'], to: 'running' },
};

/** How to get a node out of each state, for the message that refuses a drill. */
const WAY_OUT: Record<string, string> = { paused: 'rig unpause', stopped: 'rig start', running: 'rig stop' };

export interface PowerOptions {
  timeoutMs: number; // for a started node to be ready again
  signal?: AbortSignal; // Ctrl-C: stop waiting (the node goes on starting)
  note?: (line: string) => void;
}

/**
 * One drill on a node's container. A node already as asked is left alone ("already stopped"): nothing is recorded.
 * `start` waits until the node is ready again: a Docker node gets its veth back (from the rig's keeper, or from
 * here when no keeper runs), an LXC node from LXC; the agent leases its address again and says `ready`.
 */
export async function powerDrill(
  engine: Engine,
  node: NodeInstance,
  action: PowerAction,
  options: PowerOptions,
): Promise<'done' | 'already'> {
  const { from, to } = TRANSITIONS[action];
  const now = stateOf(node);
  if (now === to && action !== 'kill') return 'already';
  if (!from.includes(now))
    throw new RigError(
      `${node.node} is ${now}: rig ${action} needs it ${from.join(' or ')}.`,
      `${WAY_OUT[now]} ${node.node.split('.')[0]} first`,
      ExitCode.badInput,
    );
  const backend = engine.backends[node.backend];
  if (!backend) throw new RigError(`${node.node} is a ${node.backend} node, and that backend is not available here.`);
  const access = await factAccess(engine, node.rig); // the sidecar runs: the drill can be recorded, and a start waited on
  if (action === 'start') await withFacts(access, (f) => f.setStage(node.rig, node.node, 'restarted'));
  if (action === 'pause') await cutWhilePaused(engine, node, true);
  await backend.power(node, action).catch(async (err: unknown) => {
    if (action === 'pause') await cutWhilePaused(engine, node, false); // not paused: its port passes again
    throw err;
  });
  if (action === 'unpause') await cutWhilePaused(engine, node, false);
  await withFacts(access, async (f) => {
    if (action === 'kill' || action === 'stop' || action === 'pause') await f.letGo(node.rig, node.node); // lost now, not in a TTL
    await recordEvent(f, node.rig, { kind: action, node: node.node });
  });
  if (action === 'start') {
    if (declarationOf(node.backend).wiredByHost) await wireAgain(engine, node, options);
    await waitReady(engine, node, options);
  }
  // Its lease went with the pause: it reads as lost until its agent, thawed, takes one again (a second or two).
  if (action === 'unpause' && !(await withFacts(access, (f) => f.waitAlive(node.rig, node.node, options.timeoutMs)))) {
    throw new RigError(
      `${node.node} runs again, but its agent did not say it is alive within ${options.timeoutMs / 1000} s.`,
      `see its log with: rig logs ${node.node} --name ${node.rig}`,
      ExitCode.timeout,
    );
  }
  return 'done';
}

/** How long the keeper may take to wire a restarted Docker node before it is said to have failed at it. */
const KEEPER_WIRES_MS = 15_000;

/** A restarted Docker node's veth: the keeper's work, if one runs (it hears the start); else done here. */
async function wireAgain(engine: Engine, node: NodeInstance, options: PowerOptions): Promise<void> {
  const { rig } = node;
  const sidecar = (await engine.rigs.containers(rig)).find((c) => c.role === 'sidecar');
  const wiring = nodeWiring(rig, node.node);
  if (sidecar && keeperAlive(sidecar.labels)) {
    const deadline = Date.now() + KEEPER_WIRES_MS;
    while (!wired(rig, node.node)) {
      if (Date.now() > deadline)
        throw new RigError(
          `${node.node} started, but the keeper of rig ${rig} did not wire it to the rig bridge within ${KEEPER_WIRES_MS / 1000} s.`,
          `see rig status --name ${rig}; rig up of its rig file makes the node again`,
        );
      options.signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return;
  }
  const [network] = await engine.rigs.networks(rig);
  const state = await engine.wiring.containerState(node.name);
  if (!network || !state.running)
    throw new RigError(`${node.node} did not stay up after its start.`, `see its log with: rig logs ${node.node} --name ${rig}`);
  await engine.wiring.wire(network.bridge, wiring.hostInterface, wiring.mac, state.pid);
}

/** Until the node's agent says `ready` (or `failed`), within the deadline. */
export async function waitReady(engine: Engine, node: { rig: string; node: string }, options: PowerOptions): Promise<void> {
  const { rig } = node;
  const stage = await withFacts(await factAccess(engine, rig), async (facts) => {
    let settle!: (stage: string) => void;
    const settled = new Promise<string>((resolve) => (settle = resolve));
    const done = (s: string) => (s === 'ready' || s.startsWith('failed')) && settle(s);
    const stop = await facts.watchStages(rig, (n, s) => n === node.node && done(s));
    const timer = setTimeout(() => settle('not ready'), options.timeoutMs);
    const abort = () => settle('interrupted');
    options.signal?.addEventListener('abort', abort);
    try {
      done((await facts.rigState(rig)).get(node.node)?.stage ?? '');
      return await settled;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
      await stop();
    }
  });
  if (stage === 'ready') return;
  if (stage === 'interrupted') options.signal?.throwIfAborted();
  throw new RigError(
    stage === 'not ready' ? `${node.node} was not ready within ${options.timeoutMs / 1000} s.` : `${node.node} ${printable(stage)}`,
    `see its log with: rig logs ${node.node} --name ${rig}`,
    stage === 'not ready' ? ExitCode.timeout : ExitCode.failed,
  );
}
