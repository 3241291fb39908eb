/**
 * rig as a library, for test suites (vitest, jest, node:test):
 *
 *   import { up } from 'rig';
 *   const rig = await up('rigs/village/rig.yaml', { name: 'village-test' });
 *   const barn = rig.node('barn');
 *   await barn.waitFor('redis_run_id');
 *   const { exitCode, output } = await barn.exec(['redis-cli', 'ping']);
 *   await rig.down();            // or: await using rig = await up(...)
 *
 * While a rig is up, a reaper removes it if the test process dies, as for `rig up`.
 */
import { listNodes } from './engine/nodes.js';
import { bringUp } from './engine/bring-up.js';
import { ProcessInterrupts, type Reporter } from './engine/reporter.js';
import { runQuietly } from './engine/steps.js';
import { composeEngine } from './compose.js';
import { factAccess, rigStatus, withFacts } from './engine/status.js';
import { ExitCode, RigError } from './errors.js';
import { parseDuration } from './duration.js';
import { printable } from './printable.js';
import { NAME_RULE, RIG_NAME } from './rigfile/schema-parts.js';
import { namesNode } from './plan/plan.js';
import type { ExecResult } from './runtime/backend.js';
import type { Engine } from './engine/context.js';
import { powerDrill } from './engine/drills.js';
import { whichNodes } from './engine/which-nodes.js';
import { replaceNode } from './engine/replace.js';
import { heal, netem, parseDelay, partition } from './engine/link-drills.js';
import { readTrace } from './trace/read.js';
import type { Trace } from './trace/timeline.js';

export { RigError } from './errors.js';
export type { ExecResult } from './runtime/backend.js';
export type { Trace, TraceEvent, StageEvent, HostEvent, CriticalPath } from './trace/timeline.js';

export interface UpOptions {
  name?: string; // default: name: in the rig file, else the file name
  timeout?: string; // for every node to be ready, e.g. '90s', '5m' (default)
}

export interface RigNode {
  fqdn: string;
  name: string; // the short name
  ip: string;
  mirrors?: string;
  /** The node's facts as it published them. */
  facts(): Promise<Record<string, string>>;
  /** Run a command in the node (no shell: pass ['sh', '-c', '...'] for one). */
  exec(command: string[]): Promise<ExecResult>;
  /** A fact's value once the node publishes it (an etcd watch); rejects after timeoutMs (default 60 s). */
  waitFor(fact: string, timeoutMs?: number): Promise<string>;
}

export interface Rig extends AsyncDisposable {
  name: string;
  dns: string; // the rig's DNS server, from the host
  nodes: RigNode[];
  /** A node by FQDN or short name; throws if the rig has none. */
  node(name: string): RigNode;
  /** What happened and when: each node's stages, drills, the critical path of the last up (`rig trace --format json`). */
  trace(): Promise<Trace>;
  /** Take the rig down: everything it made, nothing else. */
  down(): Promise<void>;
  /** Failure drills (see the README, "Failure drills"), each recorded as an event in the rig's etcd. */
  stop(node: string): Promise<void>;
  /** Start a stopped (or killed) node again; resolves once it is ready. */
  start(node: string, options?: { timeout?: string }): Promise<void>;
  kill(node: string): Promise<void>;
  pause(node: string): Promise<void>;
  unpause(node: string): Promise<void>;
  /** Make a node again, provisioned anew; resolves once it is ready, to its address (another one with newAddress). */
  replace(node: string, options?: { newAddress?: boolean; timeout?: string }): Promise<string>;
  /** Cut these nodes apart, every pair both ways; each keeps its link to the sidecar. */
  partition(...nodes: string[]): Promise<void>;
  /** Lift the cuts between these nodes (none: every cut). */
  heal(...nodes: string[]): Promise<void>;
  /** Drop a share of what a node sends (lossPercent), delay what it receives (delay, e.g. '200ms': needs netem), or clear both. */
  netem(node: string, impairment: { lossPercent?: number; delay?: string; clear?: boolean }): Promise<void>;
}

/**
 * up()'s options, checked before anything is made, so that a mistake is reported by the option's name here
 * (`timeout`, `name`).
 */
function checkOptions(options: UpOptions): { name?: string; timeoutMs: number } {
  const { name, timeout = '5m' } = options;
  if (typeof timeout !== 'string')
    throw new RigError(
      `up(): the timeout option is a ${typeof timeout}, not a duration.`,
      "pass a string such as '90s' or '10m'",
      ExitCode.badInput,
    );
  const timeoutMs = parseDuration(timeout, 'up(): the timeout option');
  if (name !== undefined && (typeof name !== 'string' || !RIG_NAME.test(name)))
    throw new RigError(
      `up(): the name option ${printable(String(JSON.stringify(name)))} is not a valid rig name.`,
      NAME_RULE,
      ExitCode.badInput,
    );
  return { name, timeoutMs };
}

/**
 * What up() and a rig's drills tell: no progress and no notes; a warning (the rig file asks what will not work as
 * asked) on stderr, as `rig up` says it. SIGINT and SIGTERM are caught while up() works, as by `rig up`: the first
 * removes what was made.
 */
const quiet: Reporter = {
  runSteps: runQuietly,
  note: () => {},
  warn: (message) => void process.stderr.write(`rig: warning: ${printable(message)}\n`),
  interrupts: () => new ProcessInterrupts(),
};

/** Bring a rig up and wait until every node is ready, as `rig up` does, without progress output. */
export async function up(rigFile: string, options: UpOptions = {}): Promise<Rig> {
  const { name, timeoutMs } = checkOptions(options);
  const upAgain = `rig up ${rigFile}${name ? ` --name ${name}` : ''}`;
  const made = await bringUp(rigFile, () => composeEngine(), { name, timeoutMs, keeper: true, upAgain }, quiet);
  made.interrupts.release(); // the test runner's own signals are its business; the reaper still guards the rig
  const { engine, plan } = made;
  const [status] = await rigStatus(engine, plan.name);
  const instances = await listNodes(engine, plan.name);
  const nodes: RigNode[] = status.nodes.map((n) => {
    const instance = instances.find((i) => i.node === n.fqdn)!;
    return {
      fqdn: n.fqdn,
      name: n.fqdn.split('.')[0],
      ip: n.ip,
      mirrors: n.mirrors || undefined,
      facts: async () => withFacts(await factAccess(engine, plan.name), (f) => f.nodeFacts(plan.name, n.fqdn)),
      exec: (command) => engine.backends[instance.backend]!.exec(instance, command),
      waitFor: async (fact, timeoutMs = 60_000) => {
        const value = await withFacts(await factAccess(engine, plan.name), (f) => f.waitFact(plan.name, n.fqdn, fact, timeoutMs));
        if (value === null)
          throw new RigError(
            `${n.fqdn} did not publish ${fact} within ${timeoutMs / 1000} s.`,
            `see its log with: rig logs ${n.fqdn} --name ${plan.name}`,
          );
        return value;
      },
    };
  });
  let down: Promise<void> | undefined;
  const rig: Rig = {
    name: plan.name,
    dns: status.dns,
    nodes,
    node(name) {
      const found = nodes.find((n) => namesNode(name, n.fqdn));
      if (!found) throw new RigError(`No node ${name} in rig ${plan.name}.`, `its nodes: ${nodes.map((n) => n.fqdn).join(', ')}`);
      return found;
    },
    trace: () => readTrace(engine, plan.name),
    down: () => (down ??= made.down()),
    ...drills(engine, plan.name, nodes),
    [Symbol.asyncDispose]: () => rig.down(),
  };
  return rig;
}

type Drills = Pick<Rig, 'stop' | 'start' | 'kill' | 'pause' | 'unpause' | 'replace' | 'partition' | 'heal' | 'netem'>;

/** The drills of a rig brought up by up(): nodes named as in rig.node(), the rig's own nodes only. */
function drills(engine: Engine, rig: string, nodes: RigNode[]): Drills {
  const find = async (...names: string[]) => (await whichNodes(engine, names, rig)).nodes;
  const power = (action: 'stop' | 'kill' | 'pause' | 'unpause') => async (node: string) =>
    void (await powerDrill(engine, (await find(node))[0], action, { timeoutMs: 60_000 }));
  return {
    stop: power('stop'),
    kill: power('kill'),
    pause: power('pause'),
    unpause: power('unpause'),
    start: async (node, options = {}) =>
      void (await powerDrill(engine, (await find(node))[0], 'start', {
        timeoutMs: parseDuration(options.timeout ?? '5m', 'start(): timeout'),
      })),
    replace: async (node, options = {}) => {
      const [instance] = await find(node);
      const timeoutMs = parseDuration(options.timeout ?? '5m', 'replace(): timeout');
      const { after } = await replaceNode(engine, instance, { newAddress: !!options.newAddress, timeoutMs }, quiet);
      const known = nodes.find((n) => n.fqdn === instance.node);
      if (known) known.ip = after; // what the test holds follows the node
      return after;
    },
    partition: async (...names) => partition(engine, rig, await find(...names)),
    heal: async (...names) => void (await heal(engine, rig, names.length ? await find(...names) : [])),
    netem: async (node, { lossPercent, delay, clear }) => {
      if (lossPercent !== undefined && !(Number.isInteger(lossPercent) && lossPercent >= 0 && lossPercent <= 100))
        throw new RigError(
          `netem(): lossPercent ${lossPercent} is not a whole percent of 0 to 100.`,
          'e.g. { lossPercent: 5 }',
          ExitCode.badInput,
        );
      const delayMs = delay === undefined ? undefined : parseDelay(delay);
      await netem(engine, (await find(node))[0], { lossPercent, delayMs, clear });
    },
  };
}
