import type { Engine } from './context.js';
import { listNodes } from './nodes.js';
import type { Facts } from '../facts/store.js';
import { declarationOf } from '../runtime/kinds.js';
import { factAccess } from './status.js';
import type { NodeSpec } from '../rigfile/types.js';
import { runsOnHost } from '../rigfile/steps.js';
import { ansibleInventory, type InventoryHost } from '../ansible/inventory.js';
import { PlaybooksAhead, verdictOf, type PlaybookVerdict } from '../ansible/playbook.js';

/** How long one ansible step may run; the node waits as long for its answer (rig-steps' RIG_HOST_STEP_TIMEOUT). */
export const HOST_STEP_TIMEOUT_S = 3600;

type HostStepFacts = Pick<Facts, 'watchHostSteps' | 'answerHostStep' | 'rigState'>;
/**
 * What the host needs of a node to run its ansible steps: its steps and groups, from the rig file, never from the
 * node. No steps (undefined): rig does not know them now (the rig file is unreadable, or changed since the node was
 * made); its ansible steps are then answered with a failure at once rather than left to wait.
 */
export type HostStepNode = Pick<NodeSpec, 'name' | 'roles' | 'mirrors'> & { provision?: NodeSpec['provision'] };

/**
 * How long a first request waits at most for the other nodes with the same step to ask, so that they share its
 * run; it starts at once when they all have.
 */
const BATCH_MS = 2000;
type Batch = Array<{ node: string; nonce: string }>;

const unknownSteps = (node: string) =>
  `failed: rig does not know ${node}'s steps now (its rig file cannot be read, or changed since the node was made): rig up the rig file, then provision it`;

/** The nodes whose step `step` runs `playbook`. */
const withStep = (nodes: HostStepNode[], step: number, playbook: string) =>
  nodes.filter((n) => {
    const s = n.provision?.[step - 1];
    return s?.kind === 'ansible' && s.playbook === playbook;
  });

export const hasHostSteps = (nodes: HostStepNode[]) => nodes.some((n) => runsOnHost(n.provision));

export interface HostStepsOptions {
  served?: string[]; // the nodes whose requests are served (default: all of specs)
  passes?: 1 | 2; // how often each node runs its steps (2: provision --idempotent)
  ahead?: PlaybooksAhead; // the runs started ahead of need (default: started now); the server stops them when it stops
}

/**
 * ansible-playbook started ahead of need for the `served` nodes' ansible steps (see PlaybooksAhead): as many runs of
 * each playbook as there are steps that run it, times `passes`. Undefined when they have none.
 */
export function playbooksAhead(specs: HostStepNode[], served: string[], passes: 1 | 2): PlaybooksAhead | undefined {
  const nodes = specs.filter((n) => served.includes(n.name));
  const steps = new Set(nodes.flatMap((n) => (n.provision ?? []).flatMap((s, i) => (s.kind === 'ansible' ? [`${i} ${s.playbook}`] : []))));
  if (!steps.size) return undefined;
  const runs = new Map<string, number>();
  for (const step of steps) {
    const playbook = step.slice(step.indexOf(' ') + 1);
    runs.set(playbook, (runs.get(playbook) ?? 0) + passes);
  }
  return new PlaybooksAhead(runs);
}

/**
 * Run the ansible steps the `served` nodes (default: all) ask for while a rig command (up, a reconcile, provision, watch) runs: a node's
 * agent reaches an ansible step, asks under its own keys with the step's number, and waits for the answer (see
 * rig-steps' host_step). The playbook is the rig file's step of that number for that node (`specs`: the rig file's nodes, all of them in the inventory): a node can have its own
 * playbook run against itself, nothing else. A run goes against the nodes that asked (`--limit`) with the whole
 * rig as inventory, and each is told its own verdict. Returns a function that stops serving and ends the runs under way. Nodes without ansible steps:
 * nothing is watched.
 */
export async function serveHostSteps(
  engine: Engine,
  facts: HostStepFacts,
  rig: string,
  specs: HostStepNode[],
  options: HostStepsOptions = {},
): Promise<() => void> {
  const served = options.served ?? specs.map((n) => n.name);
  const nodes = specs.filter((n) => served.includes(n.name));
  if (!hasHostSteps(nodes)) return () => {};
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const allSpecs = new Map(specs.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const batches = new Map<string, { playbook: string; pass: 1 | 2; members: Batch }>();
  const pending = new Map<string, NodeJS.Timeout>();
  // A node is served one request at a time (its agent asks once and waits): a node asking over and over while
  // its run is under way does not pile runs on the host.
  const busy = new Set<string>();
  const answer = (node: string, nonce: string, verdict: PlaybookVerdict) =>
    facts
      .answerHostStep(rig, node, nonce, verdict.code === 0 ? '0' : `${verdict.code} ${verdict.why ?? ''}`, verdict.output)
      .catch(() => {}) // the node's wait says so at its deadline
      .finally(() => busy.delete(node));
  // ansible-playbook started ahead of need: Ansible's own start is off the way from the nodes' request to their answer
  const playbooks = options.ahead ?? playbooksAhead(nodes, served, options.passes ?? 1) ?? new PlaybooksAhead(new Map());
  const runBatch = async (playbook: string, pass: 1 | 2, batch: Batch) => {
    try {
      const inventory = ansibleInventory(await inventoryHosts(engine, facts, rig, allSpecs));
      const hosts = batch.map((b) => b.node);
      // the nodes are answered once its recap is in: Ansible's own ending is off their way
      const { output, exitCode } = await playbooks.take(playbook).run(inventory, hosts, HOST_STEP_TIMEOUT_S * 1000, { untilRecap: true });
      await Promise.all(batch.map((b) => answer(b.node, b.nonce, verdictOf(output, exitCode, b.node, pass))));
    } catch (err) {
      const why = `failed: the host could not run it: ${(err as Error).message}`;
      await Promise.all(batch.map((b) => answer(b.node, b.nonce, { code: 1, why, output: '' })));
    }
  };
  const asked = new Set<string>(); // "node pass step playbook": asked at least once
  const start = (key: string) => {
    const batch = batches.get(key);
    clearTimeout(pending.get(key));
    pending.delete(key);
    batches.delete(key);
    if (batch) void runBatch(batch.playbook, batch.pass, batch.members);
  };
  const serve = (node: string, request: string) => {
    const [, nonce, step, passText] = /^([\w.-]{1,100}) (\d{1,3}) ([12])$/.exec(request) ?? [];
    const spec = byName.get(node);
    if (!nonce || !spec || busy.has(node) || seen.has(`${node} ${nonce}`)) return; // not this command's, or under way
    seen.add(`${node} ${nonce}`);
    busy.add(node);
    if (!spec.provision) return void answer(node, nonce, { code: 1, why: unknownSteps(node), output: '' });
    const playbook = spec.provision[Number(step) - 1];
    if (playbook?.kind !== 'ansible') {
      return void answer(node, nonce, { code: 1, why: `failed: the rig file has no ansible step ${step} for ${node}`, output: '' });
    }
    // The nodes with this same step (one level of a provision, an up's nodes) share one ansible-playbook run, as a
    // run by hand over the inventory would: one controller, its forks in parallel. It starts once they all asked,
    // or BATCH_MS after the first did.
    const pass = passText === '2' ? 2 : 1;
    const key = `${pass} ${step} ${playbook.playbook}`;
    asked.add(`${node} ${key}`);
    const batch = batches.get(key) ?? { playbook: playbook.playbook, pass, members: [] };
    batch.members.push({ node, nonce });
    if (batch.members.length === 1) {
      batches.set(key, batch);
      const timer = setTimeout(() => start(key), BATCH_MS);
      pending.set(key, timer);
    }
    if (withStep(nodes, Number(step), playbook.playbook).every((n) => asked.has(`${n.name} ${key}`))) start(key);
  };
  const stop = await facts
    .watchHostSteps(rig, (node, request) => void serve(node, request))
    .catch((err: unknown) => {
      playbooks.stop();
      throw err;
    });
  return () => {
    stop();
    for (const timer of pending.values()) clearTimeout(timer);
    playbooks.stop();
  };
}

/**
 * Every node of the rig as the inventory has it: container and backend from the engine, the PID of a running node
 * whose backend enters it by PID (nsenter: Docker's, LXD's), groups and live names from the rig file where it has the
 * node (else as the node published its roles and carries its live name: rig update has no rig file), its address as
 * it published it.
 */
export async function inventoryHosts(
  engine: Engine,
  facts: HostStepFacts,
  rig: string,
  specs: Map<string, HostStepNode>,
): Promise<InventoryHost[]> {
  const [instances, state] = await Promise.all([listNodes(engine, rig), facts.rigState(rig)]);
  return Promise.all(
    instances.map(async (i) => {
      const spec = specs.get(i.node);
      // a node the inventory can enter by its init's PID (runtime/<kind>/kind.ts), when its state can be read now
      const backend = engine.backends[i.backend];
      const byPid = !!declarationOf(i.backend).ansibleConnectionByPid && i.running && backend?.initPid;
      // a node gone or stopped meanwhile: its declared connection, which says so when Ansible uses it
      const pid = byPid ? await backend.initPid!(i).catch(() => undefined) : undefined;
      return {
        fqdn: i.node,
        container: i.name,
        backend: i.backend,
        ip: state.get(i.node)?.facts.ipaddress ?? '',
        roles: spec?.roles ?? i.roles ?? [], // rig's record, never the node's own roles fact: a node cannot join a group
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
export async function serveHostStepsOf(
  engine: Engine,
  rig: string,
  specs: HostStepNode[],
  options: HostStepsOptions & { served: string[] },
): Promise<() => void> {
  if (!hasHostSteps(specs.filter((n) => options.served.includes(n.name)))) return () => {};
  const facts = await engine.facts(await factAccess(engine, rig));
  try {
    const stop = await serveHostSteps(engine, facts, rig, specs, options);
    return () => {
      stop();
      facts.close();
    };
  } catch (err) {
    facts.close();
    throw err;
  }
}
