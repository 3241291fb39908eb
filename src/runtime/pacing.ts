/**
 * Pacing of the calls that make, start, wire and remove a rig's containers, so that a 200-node rig is not 200 of
 * each at once: all at once, they take the two cores from the engine's own work, and 164 concurrent removes once
 * deadlocked Docker 20.10. Paced, the engine works through them as fast (it is CPU-bound on two cores: 8, 16 or 32
 * calls at once bring a 200-node rig up in the same time here). Per process (up, reconcile, down, the reaper, gc,
 * the keeper), the others waiting their turn in the order they came:
 * - the engine's: Docker's creates, starts, stops and removes, the LXC tools' starts and destroys, at most
 *   ENGINE_CALLS_IN_FLIGHT at once;
 * - the host's wiring: the veths `ip` makes, moves and deletes, at most WIRING_CALLS_IN_FLIGHT at once. A few
 *   milliseconds each, they never wait behind the engine's starts, which take seconds (the sidecar's wiring, which
 *   every node waits for, would: a 12-node rig's sidecar answered 0.7 s later);
 * - a container's end (a remove, a stop) waits first for one of REMOVALS_IN_FLIGHT turns: Docker 20.10's libnetwork
 *   can deadlock when a container's network goes while the engine still handles another's going (a lock taken in
 *   two orders, moby/moby#42545, fixed after 20.10.24), and nothing but a restart of dockerd ends that. The fewer
 *   at once, the rarer; the engine's deadline (docker/deadline.ts) turns the rest into an error.
 *
 * A call never waits for a turn of the same pacer while it holds one (nothing paced calls anything paced with it),
 * so turns cannot run out; a removal holds its removal turn while it waits for an engine turn, never the other way.
 */

/** Engine calls in flight at once: a 12-node rig's creates and its sidecar's start all at once, a 200-node rig reliably. */
export const ENGINE_CALLS_IN_FLIGHT = 16;

/** Host wiring calls (ip) in flight at once. */
export const WIRING_CALLS_IN_FLIGHT = 16;

/** Container removes and stops in flight at once (see above): 200 go in 18-21 s here, with 4 at once in 29-33 s, 16 in 15-17 s. */
export const REMOVALS_IN_FLIGHT = 8;

export interface PaceOptions {
  /**
   * Ahead of the calls that begin new work: what is under way is finished first (a node's start and wiring, once
   * it is created), and what every node waits for (the sidecar). Without it, 200 creates would go first, then 200
   * starts, then 200 veths: no node would be ready before the last had started, each waiting in its agent's loop.
   */
  first?: boolean;
  /** A call still waiting for its turn when this has aborted is never made: it rejects with the abort's reason, at its turn. */
  signal?: AbortSignal;
}

/** A counting semaphore with two queues: at most `limit` calls run at once, the rest in order, `first` ones ahead. */
export class Pacer {
  private running = 0;
  private readonly waiting = { first: [] as Array<() => boolean>, then: [] as Array<() => boolean> };

  constructor(readonly limit: number) {}

  /** Calls running now and calls waiting for their turn. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.first.length + this.waiting.then.length };
  }

  async run<T>(call: () => Promise<T>, { first = false, signal }: PaceOptions = {}): Promise<T> {
    signal?.throwIfAborted();
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve, reject) => (first ? this.waiting.first : this.waiting.then).push(turn(resolve, reject, signal)));
    try {
      return await call();
    } finally {
      this.running--;
      this.next();
    }
  }

  /** Hand free turns to the calls waiting, `first` ones first; a call whose signal aborted declines its turn. */
  private next(): void {
    while (this.running < this.limit) {
      const take = this.waiting.first.shift() ?? this.waiting.then.shift();
      if (!take) return;
      if (take()) this.running++;
    }
  }
}

/** A waiting call's answer to its turn: it takes it (true), or declines it, rejecting, if its signal aborted meanwhile. */
const turn = (resolve: () => void, reject: (err: Error) => void, signal?: AbortSignal) => (): boolean => {
  if (signal?.aborted) return (reject(signal.reason as Error), false);
  resolve();
  return true;
};

const [engine, wiring, removals] = [ENGINE_CALLS_IN_FLIGHT, WIRING_CALLS_IN_FLIGHT, REMOVALS_IN_FLIGHT].map((n) => new Pacer(n));

/** Run an engine call (a create, a start, an LXC tool's start or destroy) when it has an engine turn. */
export const paced = <T>(call: () => Promise<T>, options?: PaceOptions): Promise<T> => engine.run(call, options);

/** Run a container's remove or stop when it has a removal turn, then an engine turn (see REMOVALS_IN_FLIGHT). */
export const pacedRemoval = <T>(call: () => Promise<T>, options?: PaceOptions): Promise<T> =>
  removals.run(() => paced(call, options), options);

/** Run a host wiring call (ip: a veth made, moved or deleted) when it has a wiring turn. */
export const pacedWiring = <T>(call: () => Promise<T>, options?: PaceOptions): Promise<T> => wiring.run(call, options);

/** How much longer than for one node a wait on the engine's work may take for `nodes`: their paced calls come first. */
const WAIT_PER_NODE_MS = 250;

/**
 * A wait for something the engine does while it works through a rig's nodes (a sidecar's log line, a signal's
 * effect): `baseMs` for a small rig, and longer with each node, whose calls the engine takes in turn meanwhile.
 */
export const scaledWaitMs = (baseMs: number, nodes: number): number => baseMs + nodes * WAIT_PER_NODE_MS;
