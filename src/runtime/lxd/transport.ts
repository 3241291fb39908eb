import { createHash, X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Where an LXD daemon answers: its local Unix socket (LXD trusts whoever may open it: root), or a remote cluster
 * over HTTPS, where LXD trusts a client certificate it was given and rig trusts exactly the server certificate it was
 * given (LXD's certificates are self-signed: pinned, as the lxc client pins a remote's on `lxc remote add`).
 */
export type LxdEndpoint = { socket: string } | { url: string; clientCert: string; clientKey: string; serverCert: string }; // PEM texts

/** The local daemon's socket: `$LXD_DIR/unix.socket`, Debian's /var/lib/lxd by default. */
export const localSocket = (lxdDir = '/var/lib/lxd') => `${lxdDir}/unix.socket`;

/** An answer of LXD's that is an error: what LXD said, with the request it answered. */
export class LxdError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number, // HTTP status (404: not found, 409: already exists...); 0: no answer at all
    readonly lxdMessage: string,
    options?: { cause?: unknown },
  ) {
    super(`LXD ${method} ${path}: ${lxdMessage}${status ? ` (HTTP ${status})` : ''}`, options);
    this.name = 'LxdError';
  }
}

export const isNotFound = (err: unknown) => err instanceof LxdError && err.status === 404;

/** LXD did not answer at all (no daemon on the socket, a network error, a deadline). */
export const noAnswer = (err: unknown) => err instanceof LxdError && err.status === 0;

/** LXD's envelope around every answer that is not a raw file. */
export interface LxdResponse<T = unknown> {
  type: 'sync' | 'async' | 'error';
  status_code: number;
  error_code?: number;
  error?: string;
  operation?: string;
  metadata: T;
}

export interface RequestOptions {
  body?: unknown; // JSON
  upload?: { contentType: string; headers?: Record<string, string>; stream: Readable }; // a raw body instead
  timeoutMs?: number; // the deadline of this one request (default 30 s)
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** HTTP to one LXD endpoint: JSON requests, raw reads (exec output files) and upgrades (websockets), each with a deadline. */
export class LxdTransport {
  constructor(
    readonly endpoint: LxdEndpoint,
    private readonly project?: string,
  ) {}

  /** A request whose answer is LXD's JSON envelope; an error envelope, or no answer by the deadline, throws LxdError. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<LxdResponse<T>> {
    const { status, body } = await this.send(method, path, options);
    let parsed: LxdResponse<T>;
    try {
      parsed = JSON.parse(body.toString('utf8')) as LxdResponse<T>;
    } catch {
      throw new LxdError(method, path, status, `not JSON: ${body.toString('utf8').slice(0, 200)}`);
    }
    if (parsed.type === 'error' || status >= 400)
      throw new LxdError(method, path, parsed.error_code || status, parsed.error || `HTTP ${status}`);
    return parsed;
  }

  /** A request whose answer is a file (an exec's recorded output): its bytes. */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<Buffer> {
    return (await this.withHeaders(method, path, options)).body;
  }

  /** A request whose answer is a file, with the headers LXD sent about it (X-LXD-type, X-LXD-mode...). */
  async withHeaders(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
    const { status, headers, body } = await this.send(method, path, options);
    if (status >= 400) throw new LxdError(method, path, status, errorIn(body) ?? `HTTP ${status}`);
    return { headers, body };
  }

  /** An HTTP upgrade to a websocket (`key` is the client's Sec-WebSocket-Key): the socket once LXD switched protocols. */
  upgrade(path: string, key: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<{ socket: Socket; head: Buffer; accept: string }> {
    return new Promise((resolve, reject) => {
      const headers = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key };
      const req = this.request('GET', path, headers, AbortSignal.timeout(timeoutMs));
      req.on('upgrade', (res, socket, head) => resolve({ socket, head, accept: String(res.headers['sec-websocket-accept']) }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          reject(new LxdError('GET', path, res.statusCode ?? 0, errorIn(Buffer.concat(chunks)) ?? 'no websocket upgrade')),
        );
      });
      req.on('error', (err) => reject(this.noAnswer('GET', path, err)));
      req.end();
    });
  }

  private send(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const json = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = json
      ? { 'Content-Type': 'application/json', 'Content-Length': String(json.length) }
      : options.upload
        ? { 'Content-Type': options.upload.contentType, ...options.upload.headers }
        : {};
    return new Promise((resolve, reject) => {
      const req = this.request(method, path, headers, signal);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => reject(this.noAnswer(method, path, err)));
      });
      req.on('error', (err) => reject(this.noAnswer(method, path, signal.aborted ? signal.reason : err)));
      if (options.upload) {
        options.upload.stream.on('error', (err) => req.destroy(err));
        options.upload.stream.pipe(req);
      } else req.end(json);
    });
  }

  private request(method: string, path: string, headers: Record<string, string>, signal: AbortSignal): http.ClientRequest {
    const full = this.withProject(path);
    if ('socket' in this.endpoint) return http.request({ socketPath: this.endpoint.socket, path: full, method, headers, signal });
    const url = new URL(this.endpoint.url);
    const pinned = fingerprint(this.endpoint.serverCert);
    return https.request({
      host: url.hostname,
      port: url.port || 8443,
      path: full,
      method,
      headers,
      signal,
      cert: this.endpoint.clientCert,
      key: this.endpoint.clientKey,
      ca: this.endpoint.serverCert,
      // The server is who it says only if its certificate is the one pinned; its name is not what proves it.
      checkServerIdentity: (_host, cert) =>
        fingerprint(cert.raw) === pinned
          ? undefined
          : new Error(`the LXD server at ${url.host} is not the one whose certificate rig was given`),
    });
  }

  private withProject(path: string): string {
    // an operation is the caller's already; the events of every project are asked for with all-projects
    if (!this.project || path.startsWith('/1.0/operations') || path.includes('all-projects=')) return path;
    return `${path}${path.includes('?') ? '&' : '?'}project=${encodeURIComponent(this.project)}`;
  }

  private noAnswer(method: string, path: string, err: unknown): LxdError {
    const where = 'socket' in this.endpoint ? this.endpoint.socket : this.endpoint.url;
    const code = (err as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && UNTRUSTED_SERVER.has(code)) {
      return new LxdError(method, path, 0, `the LXD server at ${where} is not the one whose certificate rig was given (TLS: ${code})`, {
        cause: err,
      });
    }
    const why = err instanceof Error ? (err.name === 'TimeoutError' ? 'no answer before the deadline' : err.message) : String(err);
    return new LxdError(method, path, 0, `${why} (LXD at ${where})`, { cause: err });
  }
}

/** Node's TLS errors for a server certificate that is not the pinned one (its chain does not end at it). */
const UNTRUSTED_SERVER = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

/** A certificate's SHA-256 fingerprint (PEM text or DER bytes): how LXD names certificates too. */
export function fingerprint(cert: string | Buffer): string {
  const der = typeof cert === 'string' ? new X509Certificate(cert).raw : cert;
  return createHash('sha256').update(der).digest('hex');
}

function errorIn(body: Buffer): string | undefined {
  try {
    return (JSON.parse(body.toString('utf8')) as { error?: string }).error || undefined;
  } catch {
    return body.length ? body.toString('utf8').slice(0, 200) : undefined;
  }
}
