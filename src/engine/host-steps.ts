import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from './context.js';
import { listNodes } from './nodes.js';
import { FactStore, type Facts } from '../facts/store.js';
import { factAccess } from './status.js';
import type { NodeSpec } from '../rigfile/types.js';
import { ansibleInventory, type InventoryHost } from '../ansible/inventory.js';
import { runPlaybook, verdictOf, type PlaybookVerdict } from '../ansible/playbook.js';

/** How long one ansible step may run; the node waits as long for its answer (rig-steps' RIG_HOST_STEP_TIMEOUT). */
export const HOST_STEP_TIMEOUT_S = 3600;

type HostStepFacts = Pick<Facts, 'watchHostSteps' | 'answerHostStep' | 'rigState'>;
/**
 * What the host needs of a node to run its ansible steps: its steps and groups, from the rig file, never from the
 * node. No steps (undefined): rig does not know them now (the rig file is unreadable, or changed since the node was
 * made); its ansible steps are then answered with a failure at once rather than left to wait.
 */
export type HostStepNode = Pick<NodeSpec, 'name' | 'roles' | 'mirrors'> & { provision?: NodeSpec['provision'] };

/** How long a first request waits for others of the same playbook to join its run (nodes reach a step together). */
const BATCH_MS = 300;
type Batch = Array<{ node: string; nonce: string }>;

export const hasHostSteps = (nodes: HostStepNode[]) => nodes.some((n) => !n.provision || n.provision.some((s) => s.kind === 'ansible'));

/**
 * Run the ansible steps the nodes ask for while a rig command (up, a reconcile, provision, watch) runs: a node's
 * agent reaches an ansible step, asks under its own keys with the step's number, and waits for the answer (see
 * rig-steps' host_step). The playbook is the rig file's step of that number for that node: a node can have its own
 * playbook run against itself, nothing else. A run goes against the nodes that asked (`--limit`) with the whole
 * rig as inventory, and each is told its own verdict. Returns a function that stops serving and ends the runs under way. Nodes without ansible steps:
 * nothing is watched.
 */
export async function serveHostSteps(engine: Engine, facts: HostStepFacts, rig: string, nodes: HostStepNode[]): Promise<() => void> {
  if (!hasHostSteps(nodes)) return () => {};
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const running = new Set<() => void>();
  const batches = new Map<string, Batch>();
  const pending = new Set<NodeJS.Timeout>();
  // A node is served one request at a time (its agent asks once and waits): a node asking over and over while
  // its run is under way does not pile runs on the host.
  const busy = new Set<string>();
  const answer = (node: string, nonce: string, verdict: PlaybookVerdict) =>
    facts
      .answerHostStep(rig, node, nonce, verdict.code === 0 ? '0' : `${verdict.code} ${verdict.why ?? ''}`, verdict.output)
      .catch(() => {}) // the node's wait says so at its deadline
      .finally(() => busy.delete(node));
  const runBatch = async (playbook: string, pass: 1 | 2, batch: Batch) => {
    const dir = mkdtempSync(join(tmpdir(), 'rig-ansible-'));
    try {
      const inventory = join(dir, 'inventory.json');
      writeFileSync(inventory, JSON.stringify(ansibleInventory(await inventoryHosts(engine, facts, rig, byName))));
      const hosts = batch.map((b) => b.node);
      const { output, exitCode } = await runPlaybook({ playbook, inventory, hosts, timeoutMs: HOST_STEP_TIMEOUT_S * 1000 }, running);
      await Promise.all(batch.map((b) => answer(b.node, b.nonce, verdictOf(output, exitCode, b.node, pass))));
    } catch (err) {
      const why = `failed: the host could not run it: ${(err as Error).message}`;
      await Promise.all(batch.map((b) => answer(b.node, b.nonce, { code: 1, why, output: '' })));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const serve = (node: string, request: string) => {
    const [, nonce, step, passText] = /^([\w.-]{1,100}) (\d{1,3}) ([12])$/.exec(request) ?? [];
    const spec = byName.get(node);
    if (!nonce || !spec || busy.has(node) || seen.has(`${node} ${nonce}`)) return; // not this command's, or under way
    seen.add(`${node} ${nonce}`);
    busy.add(node);
    if (!spec.provision) {
      const why = `failed: rig does not know ${node}'s steps now (its rig file cannot be read, or changed since the node was made): rig up the rig file, then provision it`;
      return void answer(node, nonce, { code: 1, why, output: '' });
    }
    const playbook = spec.provision[Number(step) - 1];
    if (playbook?.kind !== 'ansible') {
      return void answer(node, nonce, { code: 1, why: `failed: the rig file has no ansible step ${step} for ${node}`, output: '' });
    }
    // Nodes that ask for the same playbook at about the same time (one level of a provision, an up's nodes) share
    // one ansible-playbook run, as a run by hand over the inventory would: one controller, its forks in parallel.
    const pass = passText === '2' ? 2 : 1;
    const key = `${pass} ${playbook.playbook}`;
    const open = batches.get(key);
    if (open) return void open.push({ node, nonce });
    const batch: Batch = [{ node, nonce }];
    batches.set(key, batch);
    const timer = setTimeout(() => {
      pending.delete(timer);
      batches.delete(key);
      void runBatch(playbook.playbook, pass, batch);
    }, BATCH_MS);
    pending.add(timer);
  };
  const stop = await facts.watchHostSteps(rig, (node, request) => void serve(node, request));
  return () => {
    stop();
    for (const timer of pending) clearTimeout(timer);
    for (const end of running) end();
  };
}

/**
 * Every node of the rig as the inventory has it: container and backend from the engine, the PID of a running Docker
 * node (for nsenter), groups and live names from the rig file where it has the node, its address as it published it.
 */
async function inventoryHosts(
  engine: Engine,
  facts: HostStepFacts,
  rig: string,
  specs: Map<string, HostStepNode>,
): Promise<InventoryHost[]> {
  const [instances, state] = await Promise.all([listNodes(engine, rig), facts.rigState(rig)]);
  return Promise.all(
    instances.map(async (i) => {
      const spec = specs.get(i.node);
      const pid =
        i.backend === 'docker' && i.running ? (await engine.runtime.containerState(i.name).catch(() => undefined))?.pid : undefined;
      return {
        fqdn: i.node,
        container: i.name,
        backend: i.backend === 'lxc' ? 'lxc' : 'docker',
        ip: state.get(i.node)?.facts.ipaddress ?? '',
        roles: spec?.roles ?? [],
        ...((spec?.mirrors ?? i.mirrors) && { mirrors: spec?.mirrors ?? i.mirrors }),
        ...(pid && { pid }),
      } satisfies InventoryHost;
    }),
  );
}

/**
 * serveHostSteps for a command that runs steps in nodes that are up (provision, watch): its own root connection to
 * the rig's etcd, closed by the returned stop function.
 */
export async function serveHostStepsOf(engine: Engine, rig: string, nodes: HostStepNode[]): Promise<() => void> {
  if (!hasHostSteps(nodes)) return () => {};
  const facts = await FactStore.connect(await factAccess(engine, rig));
  try {
    const stop = await serveHostSteps(engine, facts, rig, nodes);
    return () => {
      stop();
      facts.close();
    };
  } catch (err) {
    facts.close();
    throw err;
  }
}
