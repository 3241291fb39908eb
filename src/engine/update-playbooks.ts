import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ExitCode, RigError } from '../errors.js';
import { Label } from '../labels.js';
import { ansibleInventory, type InventoryHost } from '../ansible/inventory.js';
import { runPlaybook, verdictOf } from '../ansible/playbook.js';
import type { NodeInstance } from '../runtime/backend.js';
import type { Engine } from './context.js';
import { HOST_STEP_TIMEOUT_S, inventoryHosts } from './host-steps.js';
import { factAccess } from './status.js';

/** What one node's ansible update step came to: its run's output, and why it failed, if it did. */
export interface PlaybookStepResult {
  output: string;
  failure?: string; // the failed task and its message (as the provisioning step says it), or how ansible-playbook ended
  interrupted?: boolean; // rig was interrupted: the run was ended (its process group)
}

/**
 * The rig file's directory, which the nodes' recorded playbooks are relative to, when one of `nodes` has an ansible
 * update step: from the rig's record of its rig file (the network's io.rig.file), each playbook checked to be there.
 * Exit 2 before anything is updated when one is not.
 */
export async function updatePlaybooksDir(engine: Engine, rig: string, nodes: NodeInstance[]): Promise<string | undefined> {
  const steps = nodes.flatMap((n) => (n.update ?? []).flatMap((s) => (typeof s === 'string' ? [] : [{ node: n.node, ...s }])));
  if (!steps.length) return undefined;
  const [network] = await engine.rigs.networks(rig);
  const file = network?.labels[Label.rigFile];
  if (!file)
    throw new RigError(
      `Rig ${rig} does not say which rig file it was made from, and ${steps[0].node}'s update runs the playbook ${steps[0].ansible}, relative to it.`,
      'bring the rig up anew with rig up of its rig file',
      ExitCode.badInput,
    );
  const dir = dirname(file);
  for (const step of steps) {
    const playbook = resolve(dir, step.ansible);
    if (!existsSync(playbook))
      throw new RigError(
        `${step.node}'s update runs the playbook ${step.ansible}, which is not there (looked for ${playbook}, next to the rig file ${file}); no node was updated.`,
        'put the playbook back, or change update: in the rig file and bring the rig up again',
        ExitCode.badInput,
      );
  }
  return dir;
}

interface Meeting {
  playbook: string;
  expected: Set<string>; // the batch's nodes with this step that have not given up before it
  waiting: Map<string, (result: PlaybookStepResult) => void>;
  started: boolean;
}

/**
 * The ansible steps of one batch of a rolling update: a playbook at the same place in the nodes' update lists runs
 * once for the batch (one controller, `--limit`ed to the nodes that reached it, from the host as the provisioning
 * step runs it, the rig as inventory), once every node of the batch with that step has reached it or failed before.
 * On `signal`, a run under way is ended (its process group) and none starts.
 */
export class BatchPlaybooks {
  private readonly meetings = new Map<string, Meeting>();
  private readonly running = new Set<() => void>();
  private readonly onAbort = () => this.running.forEach((end) => end());

  constructor(
    private readonly inventory: () => Promise<InventoryHost[]>,
    private readonly dir: string | undefined,
    batch: NodeInstance[],
    private readonly signal?: AbortSignal,
  ) {
    for (const node of batch)
      (node.update ?? []).forEach((step, i) => {
        if (typeof step === 'string') return;
        const key = `${i} ${step.ansible}`;
        const meeting = this.meetings.get(key) ?? { playbook: step.ansible, expected: new Set(), waiting: new Map(), started: false };
        meeting.expected.add(node.node);
        this.meetings.set(key, meeting);
      });
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Node `node`'s update step `index`, the playbook `playbook`: its share of the batch's run. */
  run(node: string, index: number, playbook: string): Promise<PlaybookStepResult> {
    const meeting = this.meetings.get(`${index} ${playbook}`);
    if (!meeting || meeting.started) return Promise.resolve({ output: '', failure: 'rig had no run of it for this node' });
    return new Promise((resolve) => {
      meeting.waiting.set(node, resolve);
      this.startIfAllCame(meeting);
    });
  }

  /** Node `node` reaches no more steps (it failed, or its update is done): no run waits for it. */
  leave(node: string): void {
    for (const meeting of this.meetings.values()) {
      if (meeting.started || !meeting.expected.delete(node)) continue;
      this.startIfAllCame(meeting);
    }
  }

  /** Stop listening for the interrupt, once the batch is done. */
  close(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  private startIfAllCame(meeting: Meeting): void {
    if (meeting.started || !meeting.waiting.size || [...meeting.expected].some((n) => !meeting.waiting.has(n))) return;
    meeting.started = true;
    void this.runMeeting(meeting);
  }

  private async runMeeting(meeting: Meeting): Promise<void> {
    const hosts = [...meeting.waiting.keys()];
    const tell = (result: (host: string) => PlaybookStepResult) => meeting.waiting.forEach((resolve, host) => resolve(result(host)));
    if (this.signal?.aborted) return tell(() => ({ output: '', interrupted: true }));
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(tmpdir(), 'rig-ansible-'));
      const inventory = ansibleInventory(await this.inventory());
      const playbook = resolve(this.dir ?? '.', meeting.playbook);
      const run = await runPlaybook({ playbook, inventory, hosts, dir, timeoutMs: HOST_STEP_TIMEOUT_S * 1000 }, this.running);
      if (this.signal?.aborted) return tell(() => ({ output: run.output, interrupted: true }));
      tell((host) => {
        const verdict = verdictOf(run.output, run.exitCode, host, 1);
        return { output: run.output, ...(verdict.code !== 0 && { failure: verdict.why ?? 'failed' }) };
      });
    } catch (err) {
      tell(() => ({ output: '', failure: `failed: the host could not run it: ${(err as Error).message}` }));
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** The rig as an inventory now, for a run of a playbook of rig update's: groups and live names as the nodes have them. */
export async function rigInventory(engine: Engine, rig: string): Promise<InventoryHost[]> {
  const facts = await engine.facts(await factAccess(engine, rig));
  try {
    return await inventoryHosts(engine, facts, rig, new Map());
  } finally {
    facts.close();
  }
}
