import type { NodeInstance } from '../runtime/backend.js';
import type { Engine } from './context.js';
import { NodeRuns } from './node-runs.js';
import { checkFailure, validateNode, type CheckResult } from './validate.js';

export interface UpdateResult {
  fqdn: string;
  updated: boolean; // its update commands ran and its validate commands passed
  failure?: string; // the command that failed (an update or a validate command), and its exit code
  interrupted?: boolean; // rig was interrupted while it was updated: what ran in it was ended, it may be half updated
  output: string;
  seconds: number;
  checks: CheckResult[];
}

/**
 * A rolling update: each node's `update` commands, then its `validate` commands, `batch` nodes at a time, in the
 * order given; the first batch with a node that fails is the last one run. Returns the nodes run, and those left.
 * On `signal` (an interrupt), the commands under way are ended in the nodes (their process groups), and no batch
 * starts after it.
 */
export async function rollingUpdate(
  engine: Engine,
  nodes: NodeInstance[],
  batch: number,
  onResult: (result: UpdateResult) => void = () => {},
  signal?: AbortSignal,
): Promise<{ results: UpdateResult[]; notRun: string[] }> {
  const runs = new NodeRuns(engine, signal);
  const results: UpdateResult[] = [];
  for (let i = 0; i < nodes.length; i += batch) {
    const done = await Promise.all(nodes.slice(i, i + batch).map((node) => updateNode(engine, node, runs)));
    done.forEach(onResult);
    results.push(...done);
    if (done.some((r) => !r.updated) || runs.aborted) return { results, notRun: nodes.slice(i + batch).map((n) => n.node) };
  }
  return { results, notRun: [] };
}

async function updateNode(engine: Engine, node: NodeInstance, runs: NodeRuns): Promise<UpdateResult> {
  const started = Date.now();
  const outputs: string[] = [];
  const result = (fields: Partial<UpdateResult>): UpdateResult => ({
    fqdn: node.node,
    updated: false,
    output: outputs.join(''),
    seconds: (Date.now() - started) / 1000,
    checks: [],
    ...fields,
  });
  for (const command of node.update ?? []) {
    const { exitCode, output, interrupted } = await runs.run(node, command);
    outputs.push(output);
    if (interrupted) return result({ interrupted, failure: `update command ${JSON.stringify(command)} was ended (interrupted)` });
    if (exitCode !== 0) return result({ failure: `update command ${JSON.stringify(command)} exited ${exitCode}` });
  }
  const checks = await validateNode(engine, node, { runs });
  const failed = checks.find((c) => !c.passed);
  const interrupted = runs.aborted && (!!failed?.interrupted || checks.length < (node.validate?.length ?? 0));
  if (interrupted) return result({ interrupted, failure: 'its validate commands were interrupted', checks });
  return result({
    updated: !failed,
    failure: failed ? `validate command ${JSON.stringify(failed.command)} ${checkFailure(failed)}` : undefined,
    output: outputs.join('') + (failed?.output ?? ''),
    checks,
  });
}
