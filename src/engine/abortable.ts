import { setMaxListeners } from 'node:events';

/** Waits that end at once when an up is aborted, and the work under way that its cleanup waits for. */
export class AbortableRun implements Abortable {
  private readonly aborter = new AbortController();
  readonly signal = this.aborter.signal;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor() {
    setMaxListeners(0, this.signal); // no limit: every node of a big rig waits on it (Node warns on stderr past 10)
  }

  abort(reason: Error): void {
    if (!this.signal.aborted) this.aborter.abort(reason);
  }

  get reason(): Error | undefined {
    return this.signal.aborted ? (this.signal.reason as Error) : undefined;
  }

  /** Work that makes something: cleanup waits for it, so that it finds and removes all it made. */
  readonly track = (work: Promise<unknown>): void => {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
  };

  /** Start work that makes something, unless the up was aborted. */
  readonly making = <T>(work: () => Promise<T>): Promise<T> => {
    this.signal.throwIfAborted();
    const made = work();
    this.track(made);
    return made;
  };

  /** A wait that ends at once with the abort's reason. */
  readonly unlessAborted = <T>(wait: Promise<T>): Promise<T> => {
    const ended = new Promise<T>((resolve, reject) => {
      if (this.signal.aborted) {
        wait.catch(() => {}); // not waited on: its failure, later, is no one's (and must not end the process)
        return reject(this.signal.reason as Error);
      }
      const onAbort = () => reject(this.signal.reason as Error);
      this.signal.addEventListener('abort', onAbort, { once: true });
      wait.then(resolve, reject).finally(() => this.signal.removeEventListener('abort', onAbort));
    });
    ended.catch(() => {}); // whoever awaits it handles the failure
    return ended;
  };

  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }
}

export interface Abortable {
  making: <T>(work: () => Promise<T>) => Promise<T>;
  unlessAborted: <T>(wait: Promise<T>) => Promise<T>;
  signal: AbortSignal;
}

export type Deferred<T> = ReturnType<typeof deferred<T>>;

export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // whoever awaits it handles the failure
  return { promise, resolve, reject };
}
