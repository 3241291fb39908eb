import type { HostStepNode } from './host-steps.js';
import type { PlaybooksAhead } from '../ansible/playbook.js';
import { runsOnHost } from '../rigfile/steps.js';
import type { NodeInstance } from '../runtime/backend.js';
import type { Engine } from './context.js';
import { NodeRuns } from './node-runs.js';
import { validateNode, type CheckResult } from './validate.js';

export interface ProvisionResult {
  fqdn: string;
  exitCode: number; // rig-steps' own: 0, or the failing step's
  failure?: string; // why, as the node said it (its last line), or why it was not run
  stepOutput?: string; // a failed run: what the failing step said (its own output, not rig's lines around it)
  output: string;
  seconds: number;
  checks: CheckResult[]; // its validate commands, run after its steps succeeded
}

export const provisionPassed = (r: ProvisionResult) => r.exitCode === 0 && r.checks.every((c) => c.passed);

/**
 * Run the nodes' steps again in place (rig-steps --provision, in each node: it publishes its stages, then ready),
 * then their validate commands. Nodes go in the order of their needs among the chosen ones (`needs`: fqdn -> the
 * fqdns it needs), those of one level at once; a node whose need's steps failed is not run.
 */
export async function provisionNodes(
  engine: Engine,
  nodes: NodeInstance[],
  options: {
    idempotent: boolean;
    needs: Map<string, string[]>;
    started?: (node: string) => void;
    finished?: (result: ProvisionResult) => void;
    runs?: NodeRuns;
    hostSteps?: HostStepNode[]; // the rig file's nodes, for the chosen ones' ansible steps (run from the host)
    ahead?: PlaybooksAhead; // their runs, started ahead of need (see playbooksAhead); stopped when this ends
  },
): Promise<ProvisionResult[]> {
  const served = new Set(nodes.map((n) => n.node));
  const hostSteps = (options.hostSteps ?? []).filter((n) => served.has(n.name) && runsOnHost(n.provision));
  let stopHostSteps = () => {};
  try {
    if (hostSteps.length)
      stopHostSteps = await (
        await import('./host-steps.js')
      ).serveHostStepsOf(engine, nodes[0].rig, options.hostSteps ?? [], {
        served: [...served],
        passes: options.idempotent ? 2 : 1,
        ahead: options.ahead,
      });
    return await provisionInOrder(engine, nodes, options);
  } finally {
    stopHostSteps();
    options.ahead?.stop();
  }
}

async function provisionInOrder(
  engine: Engine,
  nodes: NodeInstance[],
  options: Parameters<typeof provisionNodes>[2],
): Promise<ProvisionResult[]> {
  const runs = options.runs ?? new NodeRuns(engine);
  const chosen = new Set(nodes.map((n) => n.node));
  const results = new Map<string, ProvisionResult>();
  let left = [...nodes];
  while (left.length) {
    const needsOf = (n: NodeInstance) => (options.needs.get(n.node) ?? []).filter((d) => chosen.has(d));
    const ready = left.filter((n) => needsOf(n).every((d) => results.has(d)));
    const level = ready.length ? ready : left; // a cycle cannot reach here (up refused it); all at once if it did
    await Promise.all(
      level.map(async (node) => {
        // A need counts as met once its steps ran (it is ready again), as in `up`; its own checks are its verdict.
        const failedNeed = needsOf(node).find((d) => results.get(d)!.exitCode !== 0);
        if (runs.aborted) {
          results.set(node.node, { fqdn: node.node, exitCode: -1, failure: NOT_RUN, output: '', seconds: 0, checks: [] });
          return;
        }
        if (failedNeed) {
          results.set(node.node, {
            fqdn: node.node,
            exitCode: -1,
            failure: `not run: it needs ${failedNeed}, which failed`,
            output: '',
            seconds: 0,
            checks: [],
          });
          return;
        }
        options.started?.(node.node);
        const result = await provisionNode(engine, runs, node, options.idempotent);
        results.set(node.node, result);
        options.finished?.(result);
      }),
    );
    left = left.filter((n) => !results.has(n.node));
  }
  return nodes.map((n) => results.get(n.node)!);
}

/** What a node that an interrupt kept from starting says. */
export const NOT_RUN = 'not run: rig was interrupted';

/** The steps run under rig-run, in a session of their own: an interrupt ends them whole, in the node. */
async function provisionNode(engine: Engine, runs: NodeRuns, node: NodeInstance, idempotent: boolean): Promise<ProvisionResult> {
  const started = Date.now();
  const command = ['/.rig/bin/sh', '/.rig/bin/rig-steps', '--provision', ...(idempotent ? ['--idempotent'] : [])];
  const { exitCode, output, interrupted } = await runs.run(node, command);
  const seconds = (Date.now() - started) / 1000;
  if (interrupted) return { fqdn: node.node, exitCode: 130, failure: 'interrupted: its steps were ended', output, seconds, checks: [] };
  if (exitCode === 0) return { fqdn: node.node, exitCode, output, seconds, checks: await validateNode(engine, node, { runs }) };
  const failure = output.trimEnd().split('\n').pop() || `exited ${exitCode}`;
  return { fqdn: node.node, exitCode, failure, stepOutput: failingStepOutput(output), output, seconds, checks: [] };
}

/**
 * What the failing step said: the output of rig-steps after its last `rig-agent: step i/n: KIND` line, without the
 * failure line it ends with (the verdict says that).
 */
export function failingStepOutput(output: string): string {
  const lines = output.trimEnd().split('\n');
  let start = lines.length - 1;
  while (start >= 0 && !/^rig-agent: step \d+\/\d+: /.test(lines[start])) start--;
  return lines.slice(start + 1, -1).join('\n');
}
