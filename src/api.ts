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
import { bringUp } from './cli/commands/up.js';
import { factAccess, rigStatus, withFacts } from './engine/status.js';
import { ExitCode, RigError } from './errors.js';
import { parseDuration } from './cli/table.js';
import { printable } from './printable.js';
import { NAME_RULE, RIG_NAME } from './rigfile/schema.js';
import { namesNode } from './plan/plan.js';
import type { ExecResult } from './runtime/backend.js';
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
}

/**
 * up()'s options, checked before bringUp sees them, so that a mistake is reported by the option's name here
 * (`timeout`, `name`), not by the CLI flag bringUp would name (`--timeout`, "the command line").
 */
function checkOptions(options: UpOptions): { name?: string; timeout: string } {
  const { name, timeout = '5m' } = options;
  if (typeof timeout !== 'string')
    throw new RigError(
      `up(): the timeout option is a ${typeof timeout}, not a duration.`,
      "pass a string such as '90s' or '10m'",
      ExitCode.badInput,
    );
  parseDuration(timeout, 'up(): the timeout option');
  if (name !== undefined && (typeof name !== 'string' || !RIG_NAME.test(name)))
    throw new RigError(
      `up(): the name option ${printable(String(JSON.stringify(name)))} is not a valid rig name.`,
      NAME_RULE,
      ExitCode.badInput,
    );
  return { name, timeout };
}

/** Bring a rig up and wait until every node is ready, as `rig up` does, without progress output. */
export async function up(rigFile: string, options: UpOptions = {}): Promise<Rig> {
  const made = await bringUp(rigFile, checkOptions(options), () => {}, 'quiet');
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
    [Symbol.asyncDispose]: () => rig.down(),
  };
  return rig;
}
