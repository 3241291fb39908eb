import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';

/**
 * A rig's etcd, through its v3 JSON gateway over HTTP: the same way in as the nodes' rig-fact. Not the etcd3
 * package: loading it (gRPC and protobuf) took about 0.2 s of CPU, more than the whole of a small `rig provision`,
 * and on `up` it held up the moment etcd answered. Keys and values go base64 and are strings here; 64-bit numbers
 * come as strings.
 */

/** etcd refused a call: its gRPC status code and message (e.g. 9, "etcdserver: user name not found"). */
export class EtcdError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'EtcdError';
  }
}

/** etcd gave no answer: unreachable, the connection refused or cut, or the call's deadline passed. */
export class EtcdUnanswered extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EtcdUnanswered';
  }
}

/** The gRPC status codes rig tells apart. */
export const EtcdCode = { notFound: 5, failedPrecondition: 9, unauthenticated: 16 } as const;

export interface KeyValue {
  key: string;
  value: string;
  modRevision: string;
}

export interface WatchEvent extends KeyValue {
  type: 'put' | 'delete';
}

interface RawKeyValue {
  key: string;
  value?: string;
  mod_revision?: string;
}

const encode = (s: string) => Buffer.from(s).toString('base64');
const decode = (b: string | undefined) => Buffer.from(b ?? '', 'base64').toString();
const keyValue = (kv: RawKeyValue): KeyValue => ({ key: decode(kv.key), value: decode(kv.value), modRevision: kv.mod_revision ?? '0' });

/** The end of a prefix's range: the prefix with its last byte one up (etcd's range_end). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  let i = bytes.length - 1;
  while (i >= 0 && bytes[i] === 0xff) i--;
  if (i < 0) return encode('\0'); // every key from the prefix on
  const end = bytes.subarray(0, i + 1);
  end[i]++;
  return end.toString('base64');
}

/** A key, or every key under a prefix, as etcd's requests name them. */
export const keyRange = (key: string, prefix = false) => ({ key: encode(key), ...(prefix ? { range_end: prefixEnd(key) } : {}) });

/**
 * A rig's etcd is one container on this machine: a call it cannot answer in seconds will not be answered. Seconds
 * under load: while the engine starts a 200-node rig beside other work on two cores, a call took more than 5 s.
 */
const CALL_TIMEOUT_MS = 15_000;
/** A watch cut off (etcd restarted with its sidecar) is taken up again after this, from where it was. */
const REWATCH_DELAY_MS = 250;
/** How long a watch keeps trying to take up again a cut connection (etcd restarting) before it gives up and says so. */
export const WATCH_GIVE_UP_MS = 30_000;

export class EtcdClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  private token?: Promise<string | undefined>;
  private closed = false;
  private readonly watches = new Set<() => void>();

  /** `socket`: reach etcd on this Unix socket rather than at `url` (which still names it in messages). */
  constructor(
    private readonly url: string,
    private readonly login?: { name: string; password: string },
    private readonly socket?: string,
  ) {}

  /** One call (e.g. /v3/kv/put), as the user logged in if any; a token etcd no longer knows is renewed once. */
  async call<T>(path: string, body: object): Promise<T> {
    const token = await this.loggedIn();
    try {
      return await this.post<T>(path, body, token);
    } catch (err) {
      if (!(token && err instanceof EtcdError && err.code === EtcdCode.unauthenticated)) throw err;
      this.token = undefined;
      return this.post<T>(path, body, await this.loggedIn());
    }
  }

  async get(key: string): Promise<string | null> {
    const { kvs } = await this.range(key);
    return kvs.length ? kvs[0].value : null;
  }

  /** A key, or every key under a prefix, and the store's revision when they were read (a watch may start after it). */
  async range(key: string, { prefix = false } = {}): Promise<{ kvs: KeyValue[]; revision: string }> {
    const answer = await this.call<{ kvs?: RawKeyValue[]; header: { revision: string } }>('/v3/kv/range', keyRange(key, prefix));
    return { kvs: (answer.kvs ?? []).map(keyValue), revision: answer.header.revision };
  }

  async put(key: string, value: string): Promise<void> {
    await this.call('/v3/kv/put', { key: encode(key), value: encode(value) });
  }

  /** Many puts in one transaction: all or none. */
  async putAll(entries: Array<[string, string]>): Promise<void> {
    const success = entries.map(([key, value]) => ({ request_put: { key: encode(key), value: encode(value) } }));
    await this.call('/v3/kv/txn', { success });
  }

  async delete(key: string, { prefix = false } = {}): Promise<void> {
    await this.call('/v3/kv/deleterange', keyRange(key, prefix));
  }

  /**
   * Follow a key, or every key under a prefix: `onEvent` for each put and delete from `afterRevision` on (else from
   * now). Resolves once etcd has created the watch, so nothing written after is missed. A watch cut off (etcd
   * restarted) is taken up again from the last revision seen; if etcd stays gone for `giveUpMs`, the watch stops
   * and `onGone` says why (a watch never retries in silence for ever). Returns a function that stops it.
   */
  async watch(
    key: string,
    onEvent: (event: WatchEvent) => void,
    {
      prefix = false,
      afterRevision,
      onGone = () => {},
      giveUpMs = WATCH_GIVE_UP_MS,
    }: { prefix?: boolean; afterRevision?: string; onGone?: (err: EtcdUnanswered) => void; giveUpMs?: number } = {},
  ): Promise<() => void> {
    let next = afterRevision === undefined ? undefined : String(BigInt(afterRevision) + 1n);
    let lostSince: number | undefined; // when the connection was cut, until a new watch is created
    let stopped = false;
    let current: ClientRequest | undefined;
    let retry: NodeJS.Timeout | undefined;
    const stop = () => {
      stopped = true;
      clearTimeout(retry);
      current?.destroy();
      this.watches.delete(stop);
    };
    const open = (): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        let created = false;
        const ended = (err?: Error) => {
          if (!created) return reject(err ?? new EtcdUnanswered(`etcd at ${this.url} ended the watch of ${key} before it began`));
          if (stopped || this.closed) return;
          lostSince ??= Date.now();
          if (Date.now() - lostSince >= giveUpMs) {
            stop();
            return onGone(
              new EtcdUnanswered(`etcd at ${this.url} did not answer for ${Math.round(giveUpMs / 1000)} s; the watch of ${key} stopped`),
            );
          }
          retry = setTimeout(() => void open().catch(() => ended()), REWATCH_DELAY_MS); // etcd is back, or not yet: again
        };
        this.loggedIn()
          .then((token) => {
            if (stopped) return resolve();
            const body = { create_request: { ...keyRange(key, prefix), ...(next ? { start_revision: next } : {}) } };
            const req = this.request('/v3/watch', token, (res) => {
              onWatchLines(res, this.url, (message) => {
                const failure = watchFailure(message);
                if (failure) {
                  res.destroy();
                  return created ? undefined : reject(failure);
                }
                if (message.result?.created && !created) {
                  created = true;
                  lostSince = undefined;
                  next ??= String(BigInt(message.result.header.revision) + 1n);
                  resolve();
                }
                for (const event of message.result?.events ?? []) {
                  const kv = keyValue(event.kv);
                  next = String(BigInt(kv.modRevision) + 1n);
                  if (!stopped) onEvent({ ...kv, type: event.type === 'DELETE' ? 'delete' : 'put' });
                }
              });
              res.on('error', () => {}); // a cut connection: 'close' follows, and the watch is taken up again
              res.on('close', () => ended());
            });
            current = req;
            req.on('error', (err) => ended(unanswered(this.url, err)));
            req.end(JSON.stringify(body));
          })
          .catch(reject);
      });
    this.watches.add(stop);
    await open().catch((err: Error) => {
      stop();
      throw err;
    });
    return stop;
  }

  /** Stop every watch and close the connections; calls made after fail. */
  close(): void {
    this.closed = true;
    for (const stop of [...this.watches]) stop();
    this.agent.destroy();
  }

  private loggedIn(): Promise<string | undefined> {
    const login = this.login;
    if (!login) return Promise.resolve(undefined);
    this.token ??= this.post<{ token: string }>('/v3/auth/authenticate', login).then((answer) => answer.token);
    this.token.catch(() => (this.token = undefined)); // the next call tries again
    return this.token;
  }

  private post<T>(path: string, body: object, token?: string): Promise<T> {
    if (this.closed) return Promise.reject(new EtcdUnanswered(`the connection to etcd at ${this.url} is closed`));
    return new Promise<T>((resolve, reject) => {
      const req = this.request(path, token, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => reject(unanswered(this.url, err)));
        res.on('end', () => {
          let answer: { error?: string; message?: string; code?: number } & T;
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString() || '{}');
          } catch {
            return reject(new EtcdError(`etcd at ${this.url} answered ${path} with HTTP ${res.statusCode} and no JSON`, -1));
          }
          if (res.statusCode === 200 && answer.error === undefined) resolve(answer);
          else reject(new EtcdError(answer.message ?? answer.error ?? `HTTP ${res.statusCode}`, answer.code ?? -1));
        });
      });
      req.setTimeout(CALL_TIMEOUT_MS, () =>
        req.destroy(new EtcdUnanswered(`etcd at ${this.url} did not answer ${path} within ${CALL_TIMEOUT_MS / 1000} s`)),
      );
      req.on('error', (err) => reject(unanswered(this.url, err)));
      req.end(JSON.stringify(body));
    });
  }

  private request(path: string, token: string | undefined, onResponse: (res: IncomingMessage) => void) {
    return request(
      new URL(path, this.url),
      {
        method: 'POST',
        agent: this.agent,
        ...(this.socket ? { socketPath: this.socket } : {}),
        headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: token } : {}) },
      },
      onResponse,
    );
  }
}

interface WatchMessage {
  result?: {
    header: { revision: string };
    created?: boolean;
    canceled?: boolean;
    cancel_reason?: string;
    events?: Array<{ type?: 'PUT' | 'DELETE'; kv: RawKeyValue }>;
  };
  error?: { message?: string; grpc_code?: number; http_code?: number };
}

/** Each JSON line of a watch's answer, however its chunks split it; a line that is not JSON is a failure. */
function onWatchLines(res: IncomingMessage, url: string, onMessage: (message: WatchMessage) => void): void {
  let buffered = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      let message: WatchMessage;
      try {
        message = JSON.parse(line) as WatchMessage;
      } catch {
        message = { error: { message: `etcd at ${url} sent a watch line that is not JSON` } };
      }
      onMessage(message);
      if (res.destroyed) return;
    }
  });
}

/** A watch etcd refused (no permission, a compacted revision) or cancelled. */
function watchFailure(message: WatchMessage): EtcdError | undefined {
  if (message.error) return new EtcdError(message.error.message ?? 'watch refused', message.error.grpc_code ?? -1);
  if (message.result?.canceled) return new EtcdError(message.result.cancel_reason || 'watch cancelled by etcd', -1);
  return undefined;
}

const unanswered = (url: string, err: Error) =>
  err instanceof EtcdUnanswered ? err : new EtcdUnanswered(`etcd at ${url} did not answer: ${err.message}`, { cause: err });
