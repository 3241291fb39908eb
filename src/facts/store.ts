import { createHmac, randomBytes } from 'node:crypto';
import { InternalError } from '../errors.js';
import { EtcdClient, EtcdCode, EtcdError, EtcdUnanswered, keyRange } from './etcd.js';
import { lastRecorded, readHistory, recordStages, recordUp, type RigHistory } from './history.js';

/**
 * The rig's facts in etcd. Key layout (documented in the README):
 *   /rig/<rig>/nodes/<fqdn>/facts/<name>   one fact, a string
 *   /rig/<rig>/nodes/<fqdn>/stage          created | addressed | facts | ready | failed: <why>
 *   /rig/<rig>/nodes/<fqdn>/alive          bound to the node's etcd lease, kept alive by its agent: gone = lost
 *   /rig/<rig>/nodes/<fqdn>/host-step/...  an ansible step the node asks the host to run, and the host's answer
 *   /rig/<rig>/kept, /rig/<rig>/mirrors/<live>   rig's own marks (the host writes them)
 * Nodes write their own keys from inside; the host only reads, and writes `created` before a node can. etcd's auth
 * holds each node to that: a node logs in as its FQDN and may write only under its own prefix (and read the rig's
 * keys); the host is etcd's root.
 */
const nodePrefix = (rig: string, node: string) => `/rig/${rig}/nodes/${node}/`;
const rigPrefix = (rig: string) => `/rig/${rig}/nodes/`;

/** Nodes whose etcd users are made at once (addNodes): at most 5 calls each, within the client's 16 sockets. */
const NODES_AT_ONCE = 5;

export interface NodeState {
  stage?: string;
  facts: Record<string, string>;
  alive?: boolean; // its `alive` key is there (its agent keeps its lease alive)
}

/** What a node's stage reads as: `lost` when its agent has published a stage but its `alive` key has gone (its
 * lease ran out: the node died, was paused or cut off). A failure stays what it says. */
export const LOST = 'lost';
export function seenStage(state: NodeState): string | undefined {
  if (state.stage === undefined || state.stage === 'created' || state.stage.startsWith('failed')) return state.stage;
  return state.alive ? state.stage : LOST;
}

/** Where a rig's etcd is and the host's way in (root, once auth is on). */
export interface FactAccess {
  url: string;
  rootPassword?: string;
  socket?: string; // the host's own way in, a Unix socket (see EtcdClient)
}

/** Whether an etcd call failed for want of an answer: etcd was unreachable, or the call's deadline passed. */
export const unanswered = (err: unknown): boolean => err instanceof EtcdUnanswered;

/** What the engine asks of a rig's fact store (FactStore on etcd; a fake in unit tests). */
export type Facts = Pick<
  FactStore,
  | 'lockDown'
  | 'addNodes'
  | 'removeNode'
  | 'putFacts'
  | 'nodeFacts'
  | 'setStage'
  | 'watchStages'
  | 'setMark'
  | 'mark'
  | 'deleteMark'
  | 'recordHistory'
  | 'close'
  | 'watchHostSteps'
  | 'answerHostStep'
  | 'rigState'
>;

export const newRootPassword = () => randomBytes(24).toString('base64url');

/** A node's etcd password, derived from the root password: rig can give it again (a restart) without storing it. */
export const nodePassword = (rootPassword: string, fqdn: string) =>
  createHmac('sha256', rootPassword).update(fqdn).digest('base64url').slice(0, 32);

export class FactStore {
  private constructor(private readonly etcd: EtcdClient) {}

  static async connect({ url, rootPassword, socket }: FactAccess): Promise<FactStore> {
    // Whoever answers on the bridge (a node posing as the sidecar) would be given the rig's root password.
    if (rootPassword && !socket) throw new InternalError(`etcd's root logs in only through the sidecar's socket, not at ${url}`);
    return new FactStore(new EtcdClient(url, rootPassword ? { name: 'root', password: rootPassword } : undefined, socket));
  }

  /**
   * Turn etcd's auth on for a new rig: root for the host, and per node a user (its FQDN) whose role may write
   * only the node's own keys and read the rig's. Called once, before any node is wired; after it this client
   * (which has no credentials) can do nothing more: connect again as root.
   */
  async lockDown(rig: string, rootPassword: string, nodes: string[]): Promise<void> {
    await Promise.all([
      this.etcd
        .call('/v3/auth/user/add', { name: 'root', password: rootPassword })
        .then(() => this.etcd.call('/v3/auth/user/grant', { user: 'root', role: 'root' })),
      this.addNodes(rig, rootPassword, nodes),
    ]);
    await this.etcd.call('/v3/auth/enable', {});
  }

  /** Give each node its etcd user, whose role may write only the node's own keys and read the rig's. */
  async addNodes(rig: string, rootPassword: string, nodes: string[]): Promise<void> {
    const grant = (role: string, permType: 'READ' | 'READWRITE', prefix: string) =>
      this.etcd.call('/v3/auth/role/grant', { name: role, perm: { permType, ...keyRange(prefix, true) } });
    const addOne = async (fqdn: string) => {
      await Promise.all([
        this.etcd.call('/v3/auth/role/add', { name: fqdn }),
        this.etcd.call('/v3/auth/user/add', { name: fqdn, password: nodePassword(rootPassword, fqdn) }),
      ]);
      await Promise.all([
        grant(fqdn, 'READWRITE', nodePrefix(rig, fqdn)),
        grant(fqdn, 'READ', `/rig/${rig}/`),
        this.etcd.call('/v3/auth/user/grant', { user: fqdn, role: fqdn }),
      ]);
    };
    // A few nodes at a time: each call's deadline runs while it waits for one of the client's sockets, and etcd
    // hashes every password (bcrypt), so a big rig's calls all at once would wait out their deadlines in the queue.
    for (let i = 0; i < nodes.length; i += NODES_AT_ONCE) await Promise.all(nodes.slice(i, i + NODES_AT_ONCE).map(addOne));
  }

  /** A node leaves the rig (a reconcile): its user, its role and every key it wrote go. */
  async removeNode(rig: string, node: string): Promise<void> {
    const gone = (err: Error) => {
      // etcd says "user name not found" or "role name not found" with this code: either is already gone
      if (!(err instanceof EtcdError && err.code === EtcdCode.failedPrecondition && /not found/.test(err.message))) throw err;
    };
    await this.etcd.call('/v3/auth/user/delete', { name: node }).catch(gone);
    await this.etcd.call('/v3/auth/role/delete', { role: node }).catch(gone);
    await this.etcd.delete(nodePrefix(rig, node), { prefix: true });
  }

  async nodeFacts(rig: string, node: string): Promise<Record<string, string>> {
    return (await this.rigState(rig)).get(node)?.facts ?? {};
  }

  /** Every node's stage and facts, by node. */
  async rigState(rig: string): Promise<Map<string, NodeState>> {
    const { kvs } = await this.etcd.range(rigPrefix(rig), { prefix: true });
    const nodes = new Map<string, NodeState>();
    for (const { key, value } of kvs) {
      const [node, kind, name] = key.slice(rigPrefix(rig).length).split('/');
      const state = nodes.get(node) ?? { facts: {} };
      if (kind === 'stage') state.stage = value;
      else if (kind === 'alive') state.alive = true;
      else if (kind === 'facts' && name) state.facts[name] = value;
      nodes.set(node, state);
    }
    return nodes;
  }

  /** Put many facts of a node at once (one transaction). */
  async putFacts(rig: string, node: string, facts: Record<string, string>): Promise<void> {
    const entries = Object.entries(facts);
    if (entries.length) await this.etcd.putAll(entries.map(([name, value]) => [`${nodePrefix(rig, node)}facts/${name}`, value]));
  }

  /** A node's fact once it is published: at once if it is, else on its put (an etcd watch), else null at the deadline. */
  async waitFact(rig: string, node: string, fact: string, timeoutMs: number): Promise<string | null> {
    return this.valueOnceThere(`${nodePrefix(rig, node)}facts/${fact}`, timeoutMs);
  }

  /** Whether the node's `alive` key is there, or comes within timeoutMs (its agent took a lease again). */
  async waitAlive(rig: string, node: string, timeoutMs: number): Promise<boolean> {
    return (await this.valueOnceThere(`${nodePrefix(rig, node)}alive`, timeoutMs)) !== null;
  }

  /**
   * The host saw the node die, stop or pause: its `alive` key goes now (its lease revoked), so its peers need not
   * wait for the lease's TTL. A node that runs again grants itself a new lease (rig-fact's alive_turn).
   */
  async letGo(rig: string, node: string): Promise<void> {
    const { kvs } = await this.etcd.call<{ kvs?: Array<{ lease?: string }> }>('/v3/kv/range', keyRange(`${nodePrefix(rig, node)}alive`));
    const lease = kvs?.[0]?.lease;
    if (!lease) return; // no key bound to a lease: lost already
    await this.etcd.call('/v3/lease/revoke', { ID: lease }).catch((err: unknown) => {
      if (!(err instanceof EtcdError && err.code === EtcdCode.notFound)) throw err; // it ran out meanwhile: as good
    });
  }

  /**
   * A key's value, at once if it is there, else once it is put (an etcd watch); null if not within timeoutMs.
   * Rejects if etcd stays gone past the watch's bound (see EtcdClient.watch): that is no timeout of the fact's.
   */
  private async valueOnceThere(key: string, timeoutMs: number): Promise<string | null> {
    const { kvs, revision } = await this.etcd.range(key);
    if (kvs.length) return kvs[0].value;
    let put!: (value: string | null) => void;
    let gone!: (err: Error) => void;
    const published = new Promise<string | null>((resolve, reject) => ((put = resolve), (gone = reject)));
    const stop = await this.etcd.watch(key, (event) => event.type === 'put' && put(event.value), { afterRevision: revision, onGone: gone });
    const timer = setTimeout(() => put(null), timeoutMs);
    try {
      return await published;
    } finally {
      clearTimeout(timer);
      stop();
    }
  }

  async setStage(rig: string, node: string, stage: string): Promise<void> {
    await this.etcd.put(`${nodePrefix(rig, node)}stage`, stage);
  }

  /**
   * Follow every node's stage; `onGone` if etcd stays unreachable past the watch's bound (see EtcdClient.watch).
   * With `lost`, a node's `alive` key that goes is told as the stage `lost`. Returns a function that stops watching.
   */
  async watchStages(
    rig: string,
    onStage: (node: string, stage: string) => void,
    onGone?: (err: Error) => void,
    { lost = false } = {},
  ): Promise<() => Promise<void>> {
    const stop = await this.etcd.watch(
      rigPrefix(rig),
      ({ key, value, type }) => {
        const [node, kind, more] = key.slice(rigPrefix(rig).length).split('/');
        if (type === 'put' && kind === 'stage') onStage(node, value);
        if (lost && type === 'delete' && kind === 'alive' && more === undefined) onStage(node, LOST);
      },
      { prefix: true, onGone },
    );
    return async () => stop();
  }

  /**
   * Ansible steps the nodes ask the host for (rig-steps' host_step): `onRequest(node, "NONCE STEP PASS")` for each
   * put of a node's `host-step/request` key, which only that node (or the host) can write. Returns a stop function.
   */
  async watchHostSteps(rig: string, onRequest: (node: string, request: string) => void): Promise<() => void> {
    return this.etcd.watch(
      rigPrefix(rig),
      ({ key, value, type }) => {
        const [node, kind, name, more] = key.slice(rigPrefix(rig).length).split('/');
        if (type === 'put' && kind === 'host-step' && name === 'request' && more === undefined) onRequest(node, value);
      },
      { prefix: true },
    );
  }

  /** The host's answer to a node's host step: what it printed, then its verdict (the key the node waits on). */
  async answerHostStep(rig: string, node: string, nonce: string, verdict: string, output: string): Promise<void> {
    const at = `${nodePrefix(rig, node)}host-step/${nonce}`;
    await this.etcd.putAll([
      [`${at}.out`, output],
      [at, verdict],
    ]);
  }

  /** Rig-wide marks outside the nodes' keys, e.g. /rig/<rig>/kept once an up finished and left the rig to its user. */
  async setMark(rig: string, name: string, value: string): Promise<void> {
    await this.etcd.put(`/rig/${rig}/${name}`, value);
  }

  async deleteMark(rig: string, name: string): Promise<void> {
    await this.etcd.delete(`/rig/${rig}/${name}`);
  }

  async mark(rig: string, name: string): Promise<string | null> {
    return this.etcd.get(`/rig/${rig}/${name}`);
  }

  /**
   * Record each stage the nodes publish, with the time it is seen, in the host's own keys (see history.ts), until
   * the returned function is called. `upStarted`: an up that makes the rig began then. `resume`: take over from
   * the last stage recorded (a keeper after its up), else record from now.
   */
  async recordHistory(
    rig: string,
    { upStarted, resume = false, onGone }: { upStarted?: Date; resume?: boolean; onGone?: (err: Error) => void } = {},
  ): Promise<() => Promise<void>> {
    if (upStarted) await recordUp(this.etcd, rig, upStarted);
    const afterRevision = resume ? await lastRecorded(this.etcd, rig) : undefined;
    return recordStages(this.etcd, rig, { afterRevision, onGone });
  }

  /** What the rig's trace is made of: its last up, the stages recorded, the events (see history.ts). */
  async history(rig: string): Promise<RigHistory> {
    return readHistory(this.etcd, rig);
  }

  close(): void {
    this.etcd.close();
  }
}
