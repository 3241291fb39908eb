import { X509Certificate } from 'node:crypto';
import { fingerprint, isNotFound, LxdError, LxdTransport, type LxdEndpoint } from './transport.js';
import { isRigs } from './marks.js';

/**
 * A client of LXD's REST API (https://documentation.ubuntu.com/lxd/en/latest/rest-api/), in rig's words, with
 * nothing beyond Node's standard library: instances, exec, cluster members, and background operations waited with
 * a deadline. Images are in images.ts, networks in networks.ts, the events stream in events.ts. A call that is not
 * answered by its deadline, or that LXD refuses, throws an LxdError saying what LXD said.
 */

/** A background operation, as LXD reports it. */
export interface Operation {
  id: string;
  status: string; // Running, Success, Failure, Cancelled
  status_code: number; // 200 success, 400 failure, 401 cancelled, 103 running...
  err: string;
  may_cancel: boolean;
  metadata: Record<string, unknown> | null;
}

export interface Instance {
  name: string;
  status: string; // Running, Stopped, Frozen, Error
  location: string; // the cluster member it is on ("none" outside a cluster)
  type: string; // container | virtual-machine
  config: Record<string, string> | null; // null while its member is offline: LXD cannot read it then
  devices: Record<string, Record<string, string>>;
}

/** What an instance is made of: an image by alias, its devices, and its marks (user.rig.*) among its config. */
export interface InstanceSpec {
  name: string;
  alias: string; // an image in this cluster's store
  config?: Record<string, string>;
  devices?: Record<string, Record<string, string>>;
  profiles?: string[]; // default: LXD's "default" (the root disk)
  target?: string; // the cluster member to place it on (LXD places it if not said)
}

/** GET /1.0: `auth` says whether it trusts this client (`untrusted`: it tells little more). */
export interface ServerInfo {
  auth: string; // trusted | untrusted
  environment: { server_version: string; server_clustered: boolean; server_name: string };
}

export interface ClusterMember {
  server_name: string;
  url: string;
  status: string; // Online, Offline, Evacuated...
  message: string;
  roles: string[];
}

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  user?: number;
  timeoutMs?: number; // how long the command may run
}

export interface ExecOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** How long LXD's own background work (create, start, delete) may take unless the caller says otherwise. */
export const OPERATION_TIMEOUT_MS = 120_000;

const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');

export class LxdClient {
  constructor(readonly transport: LxdTransport) {}

  static connect(endpoint: LxdEndpoint, project?: string): LxdClient {
    return new LxdClient(new LxdTransport(endpoint, project));
  }

  /** The server's description (GET /1.0): its version, whether it is clustered, its config. */
  async server(timeoutMs?: number): Promise<ServerInfo> {
    return (await this.transport.json<ServerInfo>('GET', '/1.0', { timeoutMs })).metadata;
  }

  /**
   * Wait for a background operation to end, by its deadline: LXD's `wait?timeout=` in turns of at most 30 s (one
   * request never outlives its own deadline). A failed operation throws what LXD said; at the deadline the operation
   * is cancelled if LXD allows it, and the wait throws.
   */
  async wait(operation: string, what: string, timeoutMs = OPERATION_TIMEOUT_MS, signal?: AbortSignal): Promise<Operation> {
    const id = operation.split('?')[0].split('/').pop()!; // LXD's operation URL may carry ?project=
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      const turn = Math.max(1, Math.min(30, Math.floor(left / 1000)));
      const op = (
        await this.transport.json<Operation>('GET', `/1.0/operations/${path(id)}/wait?timeout=${turn}`, {
          timeoutMs: turn * 1000 + 10_000,
          signal,
        })
      ).metadata;
      if (op.status_code === 200) return op;
      if (op.status_code >= 400) throw new LxdError('GET', `/1.0/operations/${id}`, op.status_code, `${what}: ${op.err || op.status}`);
      if (Date.now() >= deadline || signal?.aborted) {
        if (op.may_cancel) await this.transport.json('DELETE', `/1.0/operations/${path(id)}`).catch(() => undefined); // best effort: the error below says what matters
        throw new LxdError(
          'GET',
          `/1.0/operations/${id}`,
          0,
          `${what}: not done in ${+(timeoutMs / 1000).toFixed(1)} s (LXD says: ${op.status})`,
        );
      }
    }
  }

  /** Send a request that starts a background operation, and wait for it. */
  async operate(method: string, url: string, what: string, body?: unknown, timeoutMs = OPERATION_TIMEOUT_MS): Promise<Operation> {
    const started = await this.transport.json<Operation>(method, url, { body });
    if (started.type !== 'async' || !started.operation)
      throw new LxdError(method, url, 0, `${what}: LXD answered with no operation to wait for`);
    return this.wait(started.operation, what, timeoutMs);
  }

  async members(): Promise<ClusterMember[]> {
    return (await this.transport.json<ClusterMember[]>('GET', '/1.0/cluster/members?recursion=1')).metadata;
  }

  /**
   * Trust a client certificate (PEM) for the whole cluster, as `lxc config trust add` does: who holds its key may then
   * do anything over HTTPS. Resolves to its fingerprint, which `untrust` takes.
   */
  async trust(certificate: string, name: string): Promise<string> {
    const der = new X509Certificate(certificate).raw;
    await this.transport.json('POST', '/1.0/certificates', { body: { type: 'client', name, certificate: der.toString('base64') } });
    return fingerprint(der);
  }

  /** Forget a trusted certificate; one already gone counts as forgotten. */
  async untrust(certFingerprint: string): Promise<void> {
    try {
      await this.transport.json('DELETE', `/1.0/certificates/${path(certFingerprint)}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async instances(): Promise<Instance[]> {
    return (await this.transport.json<Instance[]>('GET', '/1.0/instances?recursion=1')).metadata;
  }

  /** Instances carrying rig's marks (of one rig, or of all). */
  async rigInstances(rig?: string): Promise<Instance[]> {
    return (await this.instances()).filter((i) => isRigs(i.config, rig));
  }

  async instance(name: string): Promise<Instance | undefined> {
    try {
      return (await this.transport.json<Instance>('GET', `/1.0/instances/${path(name)}`)).metadata;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Create an instance (not started) from an image alias, on its target member if one is given. */
  async createInstance(spec: InstanceSpec, timeoutMs?: number): Promise<void> {
    const body = {
      name: spec.name,
      type: 'container',
      source: { type: 'image', alias: spec.alias },
      config: spec.config ?? {},
      devices: spec.devices ?? {},
      profiles: spec.profiles ?? ['default'],
    };
    const url = `/1.0/instances${spec.target ? `?target=${encodeURIComponent(spec.target)}` : ''}`;
    await this.operate('POST', url, `create instance ${spec.name}`, body, timeoutMs);
  }

  /** start, stop (force: at once, or its init is asked and given `timeoutMs`), freeze, unfreeze, restart. */
  async setState(
    name: string,
    action: 'start' | 'stop' | 'restart' | 'freeze' | 'unfreeze',
    force = false,
    timeoutMs?: number,
  ): Promise<void> {
    const body = { action, force, timeout: Math.ceil((timeoutMs ?? OPERATION_TIMEOUT_MS) / 1000) };
    // Waited for past LXD's own timeout: a stop that LXD still runs when rig gives up on it would refuse what comes
    // next (a stop at once, the delete) as the instance being busy.
    const waitMs = timeoutMs === undefined ? undefined : timeoutMs + 10_000;
    await this.operate('PUT', `/1.0/instances/${path(name)}/state`, `${action} instance ${name}`, body, waitMs);
  }

  async state(name: string): Promise<{ status: string; pid: number; network: Record<string, unknown> | null }> {
    return (
      await this.transport.json<{ status: string; pid: number; network: Record<string, unknown> | null }>(
        'GET',
        `/1.0/instances/${path(name)}/state`,
      )
    ).metadata;
  }

  /** Stop (at once) and delete an instance; one already gone counts as deleted. */
  async deleteInstance(name: string, timeoutMs?: number): Promise<void> {
    const found = await this.instance(name);
    if (!found) return;
    try {
      if (found.status !== 'Stopped') await this.setState(name, 'stop', true, timeoutMs);
      await this.operate('DELETE', `/1.0/instances/${path(name)}`, `delete instance ${name}`, undefined, timeoutMs);
    } catch (err) {
      if (isNotFound(err) || !(await this.instance(name))) return; // deleted meanwhile (by another rig process, or `lxc delete`)
      throw err;
    }
  }

  /**
   * Run a command in an instance to its end, its output recorded by LXD (record-output mode: no websocket), and read
   * back: its exit code, stdout and stderr. The recorded files are deleted once read.
   */
  async exec(name: string, command: string[], options: ExecOptions = {}): Promise<ExecOutput> {
    const body = {
      command,
      environment: options.env ?? {},
      cwd: options.cwd,
      user: options.user,
      interactive: false,
      'wait-for-websocket': false,
      'record-output': true,
    };
    const op = await this.operate(
      'POST',
      `/1.0/instances/${path(name)}/exec`,
      `exec in ${name}: ${command.join(' ')}`,
      body,
      options.timeoutMs,
    );
    const meta = (op.metadata ?? {}) as { return?: number; output?: Record<string, string> };
    const read = async (fd: string) => {
      const file = meta.output?.[fd];
      if (!file) return '';
      const text = (await this.transport.raw('GET', file)).toString('utf8');
      await this.transport.json('DELETE', file);
      return text;
    };
    return { exitCode: meta.return ?? -1, stdout: await read('1'), stderr: await read('2') };
  }
}
