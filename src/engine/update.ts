import type { NodeInstance } from '../runtime/backend.js';
import type { Engine } from './context.js';
import { validateNode, type CheckResult } from './validate.js';

export interface UpdateResult {
  node: string;
  updated: boolean; // its update commands ran and its validate commands passed
  failure?: string; // the command that failed (an update or a validate command), and its exit code
  output: string;
  seconds: number;
  checks: CheckResult[];
}

/**
 * A rolling update: each node's `update` commands, then its `validate` commands, `batch` nodes at a time, in the
 * order given; the first batch with a node that fails is the last one run. Returns the nodes run, and those left.
 */
export async function rollingUpdate(
  engine: Engine,
  nodes: NodeInstance[],
  batch: number,
  onResult: (result: UpdateResult) => void = () => {},
): Promise<{ results: UpdateResult[]; notRun: string[] }> {
  const results: UpdateResult[] = [];
  for (let i = 0; i < nodes.length; i += batch) {
    const done = await Promise.all(nodes.slice(i, i + batch).map((node) => updateNode(engine, node)));
    done.forEach(onResult);
    results.push(...done);
    if (done.some((r) => !r.updated)) return { results, notRun: nodes.slice(i + batch).map((n) => n.node) };
  }
  return { results, notRun: [] };
}

async function updateNode(engine: Engine, node: NodeInstance): Promise<UpdateResult> {
  const started = Date.now();
  const outputs: string[] = [];
  for (const command of node.update ?? []) {
    const { exitCode, output } = await engine.backends[node.backend]!.exec(node, ['/.rig/bin/rig-run', command]);
    outputs.push(output);
    if (exitCode !== 0) {
      return {
        node: node.node,
        updated: false,
        failure: `update command ${JSON.stringify(command)} exited ${exitCode}`,
        output: outputs.join(''),
        seconds: (Date.now() - started) / 1000,
        checks: [],
      };
    }
  }
  const checks = await validateNode(engine, node);
  const failed = checks.find((c) => !c.passed);
  return {
    node: node.node,
    updated: !failed,
    failure: failed ? `validate command ${JSON.stringify(failed.command)} exited ${failed.exitCode}` : undefined,
    output: outputs.join('') + (failed?.output ?? ''),
    seconds: (Date.now() - started) / 1000,
    checks,
  };
}
