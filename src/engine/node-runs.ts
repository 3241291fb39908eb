import { randomBytes } from 'node:crypto';
import type { AttachStreams, NodeInstance } from '../runtime/backend.js';
import type { Engine } from './context.js';

/** rig's runner in every node (images/tools/rig-run). */
export const RIG_RUN = '/.rig/bin/rig-run';

/** How long a validate command may run when neither the rig file nor the command line says (seconds). */
export const DEFAULT_CHECK_TIMEOUT = 300;

/**
 * How long the host waits past a command's deadline before it stops waiting for the node to answer (seconds). The
 * node ends the command itself at its deadline (TERM, KILL 2 s later); this is for a node that cannot (stopped, frozen)
 * or whose command left a process outside its group that holds its output open.
 */
const HOST_GRACE = 20;

/** After an interrupt, how long the host waits for the commands it ended to come back (ms). */
const END_WAIT_MS = 5000;

export interface RunOptions {
  timeout?: number; // seconds; none: no deadline
  whole?: boolean; // when the command ends, end what it left in its group (a check)
}

export interface NodeRunResult {
  exitCode: number;
  output: string;
  timedOut: boolean; // ran out of its time: its processes in the node were ended
  interrupted: boolean; // ended because rig was interrupted
}

/** The line rig-run ends a command's output with when the command ran out of its time. */
const TIMED_OUT = /rig-run: timed out after \d+ s; its processes were ended\n?$/;

/**
 * Commands that rig runs in nodes through rig-run, each in a process group (a session) of its own, all under one tag:
 * `end()` ends every one of them, whole (background children included), in every node they were started in. With a
 * signal, an abort ends them, and no command starts after it. A command's deadline is kept in the node by rig-run
 * itself, so a rig that is killed leaves nothing running past it.
 */
export class NodeRuns {
  readonly tag = `rig${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly nodes = new Map<string, NodeInstance>();
  private ending?: Promise<void>;
  /** Once an abort has come and what it ended is ended: END_WAIT_MS later ('ended'), the host stops waiting. */
  private readonly gaveUp?: Promise<'ended'>;

  constructor(
    private readonly engine: Engine,
    readonly signal?: AbortSignal,
  ) {
    if (!signal) return;
    this.gaveUp = new Promise((resolve) => {
      const onAbort = () => void this.end().then(() => setTimeout(() => resolve('ended'), END_WAIT_MS).unref());
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  get aborted(): boolean {
    return !!this.signal?.aborted;
  }

  /** rig-run's command line: a shell command (a string), or a command and its arguments as they are (an array). */
  argv(command: string | string[], { timeout, whole }: RunOptions = {}): string[] {
    return [
      RIG_RUN,
      '-g',
      this.tag,
      ...(timeout ? ['-t', String(Math.ceil(timeout))] : []),
      ...(whole ? ['-w'] : []),
      ...(typeof command === 'string' ? ['--', command] : ['-x', '--', ...command]),
    ];
  }

  /**
   * A shell command (or a command and its arguments, as for `argv`) in the node, its output collected; ended at its
   * deadline (in the node), or by an abort.
   */
  async run(node: NodeInstance, command: string | string[], options: RunOptions = {}): Promise<NodeRunResult> {
    if (this.aborted) return { exitCode: 130, output: '', timedOut: false, interrupted: true };
    this.nodes.set(`${node.backend}/${node.name}`, node);
    const exec = this.engine.backends[node.backend]!.exec(node, this.argv(command, options));
    let timer: NodeJS.Timeout | undefined;
    const limits: Array<Promise<'late' | 'ended'>> = [];
    if (options.timeout)
      limits.push(
        new Promise(
          (resolve) => (timer = setTimeout(() => resolve('late'), Math.min((options.timeout! + HOST_GRACE) * 1000, 2 ** 31 - 1))),
        ),
      );
    if (this.gaveUp) limits.push(this.gaveUp);
    const done = await Promise.race([exec, ...limits]).finally(() => clearTimeout(timer));
    const interrupted = this.aborted;
    if (done === 'late' || done === 'ended') {
      const why = interrupted ? 'it was ended on the interrupt' : `it ran past its ${options.timeout} s`;
      return { exitCode: 124, output: `rig: no answer from the node after ${why}\n`, timedOut: !interrupted, interrupted };
    }
    const timedOut = done.exitCode === 124 && TIMED_OUT.test(done.output);
    return { exitCode: done.exitCode, output: done.output, timedOut, interrupted: interrupted && !timedOut && done.exitCode !== 0 };
  }

  /**
   * Shell commands in the node one after another, each as `run` runs it (rig-run: its own session, its deadline, the
   * tag), all in one exec: a check costs no round trip of its own. Each result has its own output and the seconds it
   * took in the node. After an interrupt, the command it ended is the last result: those after it are not run.
   */
  async runEach(node: NodeInstance, commands: string[], options: RunOptions = {}): Promise<Array<NodeRunResult & { seconds: number }>> {
    if (!commands.length || this.aborted) return [];
    const marker = `rig-each-${randomBytes(8).toString('hex')}`;
    const rigRun = this.argv('', options).slice(0, -1).join(' '); // rig-run and its options: words of [A-Za-z0-9/._-]
    // Each command's output, then a line of the marker, its exit code, and its start and end (the node's uptime).
    const loop = `m=$1; shift; for c; do read s _ </proc/uptime; ${rigRun} "$c" 2>&1; rc=$?; read e _ </proc/uptime; printf '\\n%s %s %s %s\\n' "$m" "$rc" "$s" "$e"; done`;
    const started = Date.now();
    const all = await this.run(node, ['/.rig/bin/sh', '-c', loop, 'rig-each', marker, ...commands], {
      timeout: options.timeout && options.timeout * commands.length,
    });
    const { done, rest } = eachResult(all.output, marker);
    const ran = done.slice(0, commands.length);
    // The loop did not get through them all (the node stopped, the host's wait ran out, an interrupt): the command
    // under way ends the results, with what the loop said last.
    if (ran.length < commands.length) {
      const seconds = Math.max(0, (Date.now() - started) / 1000 - ran.reduce((sum, r) => sum + r.seconds, 0));
      ran.push({ exitCode: all.exitCode || 1, output: rest, seconds });
    }
    const results: Array<NodeRunResult & { seconds: number }> = [];
    for (const r of ran) {
      const timedOut = r.exitCode === 124 && TIMED_OUT.test(r.output);
      const interrupted = this.aborted && !timedOut && r.exitCode !== 0;
      results.push({ ...r, timedOut, interrupted });
      if (interrupted) break; // those after it were not run (rig-run ends them as they start)
    }
    return results;
  }

  /** A command (and its arguments) in the node with its output streamed as it comes; resolves to its exit code. */
  async attach(node: NodeInstance, command: string[], streams: AttachStreams): Promise<number> {
    if (this.aborted) return 130;
    this.nodes.set(`${node.backend}/${node.name}`, node);
    const attached = this.engine.backends[node.backend]!.attach(node, this.argv(command), streams);
    const done = await Promise.race([attached, ...(this.gaveUp ? [this.gaveUp] : [])]);
    return done === 'ended' ? 130 : done;
  }

  /**
   * End every command started under this tag, in every node (TERM to each one's group, KILL 2 s later to what is
   * left), and any that is only starting: rig-run ends a command of a tag that was ended as soon as it starts.
   */
  end(): Promise<void> {
    this.ending ??= Promise.all(
      [...this.nodes.values()].map((node) =>
        this.engine.backends[node.backend]!.exec(node, [RIG_RUN, '-E', this.tag]).then(
          () => {},
          () => {}, // a node that is gone has nothing left running
        ),
      ),
    ).then(() => {});
    return this.ending;
  }
}

/** runEach's output split back into each command's (output, exit code, seconds in the node), and what came after. */
export function eachResult(output: string, marker: string) {
  const line = new RegExp(`\\n${marker} (\\d+) ([\\d.]+) ([\\d.]+)\\n`, 'g');
  const done: Array<{ exitCode: number; output: string; seconds: number }> = [];
  let from = 0;
  for (const m of output.matchAll(line)) {
    done.push({ exitCode: Number(m[1]), output: output.slice(from, m.index), seconds: Math.max(0, Number(m[3]) - Number(m[2])) });
    from = m.index + m[0].length;
  }
  return { done, rest: output.slice(from) };
}
