import { createHmac, randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';

/**
 * The rig's facts in etcd. Key layout (documented in the README):
 *   /rig/<rig>/nodes/<fqdn>/facts/<name>   one fact, a string
 *   /rig/<rig>/nodes/<fqdn>/stage          created | addressed | facts | ready | failed: <why>
 *   /rig/<rig>/kept, /rig/<rig>/mirrors/<live>   rig's own marks (the host writes them)
 * Nodes write their own keys from inside; the host only reads, and writes `created` before a node can. etcd's auth
 * holds each node to that: a node logs in as its FQDN and may write only under its own prefix (and read the rig's
 * keys); the host is etcd's root.
 */
const nodePrefix = (rig: string, node: string) => `/rig/${rig}/nodes/${node}/`;
const rigPrefix = (rig: string) => `/rig/${rig}/nodes/`;

export interface NodeState {
  stage?: string;
  facts: Record<string, string>;
}

/** Where a rig's etcd is and the host's way in (root, once auth is on). */
export interface FactAccess {
  url: string;
  rootPassword?: string;
}

/**
 * Whether an etcd call failed for want of an answer: its deadline passed, etcd was unreachable, or etcd3 stopped
 * trying after repeated failures (its circuit breaker, whose error class etcd3 does not export).
 */
export async function unanswered(err: unknown): Promise<boolean> {
  const { GRPCDeadlineExceededError, GRPCUnavailableError } = await import('etcd3');
  return err instanceof GRPCDeadlineExceededError || err instanceof GRPCUnavailableError || (err as Error)?.name === 'BrokenCircuitError';
}

/** What the engine asks of a rig's fact store (FactStore on etcd; a fake in unit tests). */
export type Facts = Pick<
  FactStore,
  'lockDown' | 'addNodes' | 'removeNode' | 'putFacts' | 'setStage' | 'watchStages' | 'setMark' | 'deleteMark' | 'close'
>;

export const newRootPassword = () => randomBytes(24).toString('base64url');

/** A node's etcd password, derived from the root password: rig can give it again (a restart) without storing it. */
export const nodePassword = (rootPassword: string, fqdn: string) =>
  createHmac('sha256', rootPassword).update(fqdn).digest('base64url').slice(0, 32);

export class FactStore {
  private constructor(private readonly client: Etcd3) {}

  /** etcd3 (with gRPC) is the heaviest module rig loads: only commands that talk to etcd pay for it. */
  static async connect({ url, rootPassword }: FactAccess): Promise<FactStore> {
    const { Etcd3 } = await import('etcd3');
    // A rig's etcd is one container on this machine: a call it cannot answer in seconds will not be answered.
    return new FactStore(
      new Etcd3({
        hosts: url,
        dialTimeout: 3000,
        defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }),
        ...(rootPassword ? { auth: { username: 'root', password: rootPassword } } : {}),
      }),
    );
  }

  /**
   * Turn etcd's auth on for a new rig: root for the host, and per node a user (its FQDN) whose role may write
   * only the node's own keys and read the rig's. Called once, before any node is wired; after it this client
   * (which has no credentials) can do nothing more: connect again as root.
   */
  async lockDown(rig: string, rootPassword: string, nodes: string[]): Promise<void> {
    await this.client.user('root').create(rootPassword);
    await this.client.user('root').addRole('root');
    await this.addNodes(rig, rootPassword, nodes);
    await this.client.auth.authEnable();
  }

  /** Give each node its etcd user, whose role may write only the node's own keys and read the rig's. */
  async addNodes(rig: string, rootPassword: string, nodes: string[]): Promise<void> {
    const { Range } = await import('etcd3');
    await Promise.all(
      nodes.map(async (fqdn) => {
        const role = await this.client.role(fqdn).create();
        await role.grant([
          { permission: 'Readwrite', range: Range.prefix(nodePrefix(rig, fqdn)) },
          { permission: 'Read', range: Range.prefix(`/rig/${rig}/`) },
        ]);
        const user = await this.client.user(fqdn).create(nodePassword(rootPassword, fqdn));
        await user.addRole(role);
      }),
    );
  }

  /** A node leaves the rig (a reconcile): its user, its role and every key it wrote go. */
  async removeNode(rig: string, node: string): Promise<void> {
    const { EtcdRoleNotFoundError, EtcdUserNotFoundError } = await import('etcd3');
    const gone = (err: Error) => {
      if (!(err instanceof EtcdUserNotFoundError || err instanceof EtcdRoleNotFoundError)) throw err;
    };
    await this.client.user(node).delete().catch(gone);
    await this.client.role(node).delete().catch(gone);
    await this.client.delete().prefix(nodePrefix(rig, node));
  }

  async nodeFacts(rig: string, node: string): Promise<Record<string, string>> {
    return (await this.rigState(rig)).get(node)?.facts ?? {};
  }

  /** Every node's stage and facts, by node. */
  async rigState(rig: string): Promise<Map<string, NodeState>> {
    const all = await this.client.getAll().prefix(rigPrefix(rig)).strings();
    const nodes = new Map<string, NodeState>();
    for (const [key, value] of Object.entries(all)) {
      const [node, kind, name] = key.slice(rigPrefix(rig).length).split('/');
      const state = nodes.get(node) ?? { facts: {} };
      if (kind === 'stage') state.stage = value;
      else if (kind === 'facts' && name) state.facts[name] = value;
      nodes.set(node, state);
    }
    return nodes;
  }

  /** Put many facts of a node at once (one transaction). */
  async putFacts(rig: string, node: string, facts: Record<string, string>): Promise<void> {
    const entries = Object.entries(facts);
    if (!entries.length) return;
    await this.client
      .if(`${nodePrefix(rig, node)}stage`, 'Version', '>', -1) // always true: a transaction of puts
      .then(...entries.map(([name, value]) => this.client.put(`${nodePrefix(rig, node)}facts/${name}`).value(value)))
      .commit();
  }

  /** A node's fact once it is published: at once if it is, else on its put (an etcd watch), else null at the deadline. */
  async waitFact(rig: string, node: string, fact: string, timeoutMs: number): Promise<string | null> {
    const key = `${nodePrefix(rig, node)}facts/${fact}`;
    const watcher = await this.client.watch().key(key).create();
    try {
      const now = await this.client.get(key).string();
      if (now !== null) return now;
      return await new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), timeoutMs);
        watcher.on('put', (kv) => {
          clearTimeout(timer);
          resolve(kv.value.toString());
        });
      });
    } finally {
      await watcher.cancel();
    }
  }

  async setStage(rig: string, node: string, stage: string): Promise<void> {
    await this.client.put(`${nodePrefix(rig, node)}stage`).value(stage);
  }

  /** Call `onStage` whenever a node of the rig writes its stage. Returns a function that stops watching. */
  async watchStages(rig: string, onStage: (node: string, stage: string) => void): Promise<() => Promise<void>> {
    const watcher = await this.client.watch().prefix(rigPrefix(rig)).create();
    watcher.on('put', (kv) => {
      const [node, kind] = kv.key.toString().slice(rigPrefix(rig).length).split('/');
      if (kind === 'stage') onStage(node, kv.value.toString());
    });
    return () => watcher.cancel();
  }

  /** Rig-wide marks outside the nodes' keys, e.g. /rig/<rig>/kept once an up finished and left the rig to its user. */
  async setMark(rig: string, name: string, value: string): Promise<void> {
    await this.client.put(`/rig/${rig}/${name}`).value(value);
  }

  async deleteMark(rig: string, name: string): Promise<void> {
    await this.client.delete().key(`/rig/${rig}/${name}`);
  }

  async mark(rig: string, name: string): Promise<string | null> {
    return this.client.get(`/rig/${rig}/${name}`).string();
  }

  close(): void {
    this.client.close();
  }
}
