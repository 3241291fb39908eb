import type { NodeInstance } from '../runtime/backend.js';
import type { Engine } from './context.js';
import { NodeRuns } from './node-runs.js';
import type { BatchPlaybooks } from './update-playbooks.js';
import { updatesFromHost } from '../rigfile/steps.js';
import { checkFailure, validateNode, type CheckResult } from './validate.js';

export interface UpdateResult {
  fqdn: string;
  updated: boolean; // its update commands ran and its validate commands passed
  failure?: string; // the step that failed (an update command, an ansible step: its failed task, a validate command), and how
  interrupted?: boolean; // rig was interrupted while it was updated: what ran in it was ended, it may be half updated
  output: string;
  seconds: number;
  checks: CheckResult[];
}

/**
 * A rolling update: each node's `update` steps, then its `validate` commands, `batch` nodes at a time, in the
 * order given; the first batch with a node that fails is the last one run. A shell command runs in the node; an
 * ansible step runs once per batch from the host (BatchPlaybooks), its playbook relative to `playbooksDir` (the rig
 * file's directory). Returns the nodes run, and those left. On `signal` (an interrupt), the commands under way are
 * ended in the nodes (their process groups), a playbook under way is ended (its process group), and no batch
 * starts after it.
 */
export async function rollingUpdate(
  engine: Engine,
  nodes: NodeInstance[],
  batch: number,
  onResult: (result: UpdateResult) => void = () => {},
  signal?: AbortSignal,
  playbooksDir?: string,
): Promise<{ results: UpdateResult[]; notRun: string[] }> {
  const runs = new NodeRuns(engine, signal);
  const results: UpdateResult[] = [];
  // Ansible's modules are loaded only for an update that has an ansible step.
  const ansible = nodes.some((n) => updatesFromHost(n.update)) ? await import('./update-playbooks.js') : undefined;
  for (let i = 0; i < nodes.length; i += batch) {
    const members = nodes.slice(i, i + batch);
    const playbooks = ansible
      ? new ansible.BatchPlaybooks(() => ansible.rigInventory(engine, members[0].rig), playbooksDir, members, signal)
      : NO_PLAYBOOKS;
    const done = await Promise.all(members.map((node) => updateNode(engine, node, runs, playbooks))).finally(() => playbooks.close());
    done.forEach(onResult);
    results.push(...done);
    if (done.some((r) => !r.updated) || runs.aborted) return { results, notRun: nodes.slice(i + batch).map((n) => n.node) };
  }
  return { results, notRun: [] };
}

/** The batches of an update without ansible steps. */
const NO_PLAYBOOKS = { run: () => Promise.resolve({ output: '' }), leave: () => {}, close: () => {} };
type Playbooks = Pick<BatchPlaybooks, 'run' | 'leave' | 'close'>;

/** A node's update steps in order, up to the first that fails: undefined when all passed, else what to report. */
async function runSteps(
  node: NodeInstance,
  runs: NodeRuns,
  playbooks: Playbooks,
  outputs: string[],
): Promise<Pick<UpdateResult, 'failure' | 'interrupted'> | undefined> {
  for (const [i, step] of (node.update ?? []).entries()) {
    if (typeof step === 'string') {
      const { exitCode, output, interrupted } = await runs.run(node, step);
      outputs.push(output);
      if (interrupted) return { interrupted, failure: `update command ${JSON.stringify(step)} was ended (interrupted)` };
      if (exitCode !== 0) return { failure: `update command ${JSON.stringify(step)} exited ${exitCode}` };
      continue;
    }
    const { output, failure, interrupted } = await playbooks.run(node.node, i, step.ansible);
    outputs.push(output);
    if (interrupted) return { interrupted, failure: `ansible-playbook ${step.ansible} was ended (interrupted)` };
    if (failure) return { failure: `update step ${i + 1} (ansible ${step.ansible}) ${failure}` };
  }
  return undefined;
}

async function updateNode(engine: Engine, node: NodeInstance, runs: NodeRuns, playbooks: Playbooks): Promise<UpdateResult> {
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
  const stopped = await runSteps(node, runs, playbooks, outputs).finally(() => playbooks.leave(node.node));
  if (stopped) return result(stopped);
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
