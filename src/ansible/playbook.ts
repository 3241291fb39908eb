import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packagePath } from '../package-root.js';
import type { ansibleInventory } from './inventory.js';

/** What a node is told of its ansible step: its exit code for rig-steps and, unless 0, why. */
export interface PlaybookVerdict {
  code: 0 | 1 | 2; // 2: the second run of --idempotent changed something
  why?: string;
  output: string; // what ansible-playbook printed, its end if it printed much
}

/** How long an ended run's processes have between TERM and KILL (ms). */
const KILL_AFTER_MS = 2000;

/** How long a run has to end on its own once its recap is in, while rig runs, before it is ended (ms). */
const FINISH_MS = 10_000;

/** The most of a run's output kept for the node's log (etcd carries it there); the end is what tells. */
const OUTPUT_KEPT = 256 * 1024;

/**
 * What one ansible-playbook run printed (its end, if it printed much) and its exit code (127: it could not start;
 * undefined: it was still ending when its recap was in, see StartedPlaybook.run).
 */
export interface PlaybookRun {
  output: string;
  exitCode: number | undefined;
}

/** An inventory as rig writes it (ansibleInventory): YAML-inventory-shaped JSON. */
export type Inventory = ReturnType<typeof ansibleInventory>;

/** ansible-playbook started ahead of need: it loads, then waits for its inventory and hosts. */
export interface StartedPlaybook {
  /**
   * Hand it the inventory and the hosts to run against (once); resolves when it ends or, with `untilRecap`, as soon
   * as its PLAY RECAP has a line for every host: their verdicts are known then, and Ansible's own ending (its
   * workers, Python's exit: 0.1-0.4 s here) is left off the nodes' way. It then ends on its own (or by `running`).
   */
  run(inventory: Inventory, hosts: string[], timeoutMs: number, options?: { untilRecap?: boolean }): Promise<PlaybookRun>;
  /** It ended (or never started) before being handed its inventory: a run must start another. */
  readonly gone: boolean;
}

let started = 0;

/** How rig runs ansible-playbook: pipelining, no colour, no retry files, its default output (which verdictOf reads). */
const ANSIBLE_ENV = {
  ANSIBLE_PIPELINING: 'True',
  ANSIBLE_NOCOLOR: 'True',
  ANSIBLE_FORCE_COLOR: 'False',
  ANSIBLE_RETRY_FILES_ENABLED: 'False',
  ANSIBLE_HOST_KEY_CHECKING: 'False',
  ANSIBLE_STDOUT_CALLBACK: 'default',
  ANSIBLE_INVENTORY_ENABLED: 'script', // rig's inventory is the only one, whatever the playbook's ansible.cfg enables
};

/** rig's inventory script (a file of the package: a temporary directory may be mounted noexec). */
const INVENTORY_GATE = packagePath('bin', 'rig-inventory-gate');

/**
 * ansible-playbook of `playbook`, from the playbook's directory (its ansible.cfg, roles/, group_vars/ and host_vars/
 * count as Ansible counts them), with pipelining (one process per module in the node, no files copied first), started
 * ahead of need: Python and Ansible load (about 0.3 s here, a third of a small playbook's run by hand) while the nodes
 * are still on their way to the step. Its inventory is rig's script bin/rig-inventory-gate, which waits for rig's
 * "go" on its standard input (the pipe ansible-playbook hands on to it) and then prints the inventory rig wrote in
 * `dir`; its hosts are a `--limit @file` in `dir`, read after the inventory. So nothing of the rig and nothing of the
 * playbook is read, and nothing of the play runs, before `run`; if rig goes, the pipe's end fails the script and the
 * run. `running` holds a way to end it (its whole process group), waiting or running, until its recap is in.
 */
export function startPlaybook(playbook: string, dir: string, running: Set<() => void>): StartedPlaybook {
  const n = ++started;
  const inventoryFile = join(dir, `inventory-${process.pid}-${n}.json`);
  const limitFile = join(dir, `limit-${process.pid}-${n}`);
  let gone = false;
  let output = '';
  let exitCode = 1;
  let error: Error | undefined;
  let closed: () => void = () => {};
  const ended = new Promise<void>((resolve) => (closed = resolve));
  const child = spawn('ansible-playbook', ['-i', INVENTORY_GATE, '--limit', `@${limitFile}`, playbook], {
    cwd: dirname(playbook),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // a process group of its own: its forks and connections end with it, and a terminal's Ctrl-C is rig's to handle
    env: { ...process.env, ...ANSIBLE_ENV, RIG_INVENTORY: inventoryFile },
  });
  let recap: { hosts: string[]; in: () => void } | undefined; // what a run `untilRecap` waits for
  const take = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
    if (recap && recapNames(output, recap.hosts)) atRecap(recap.in);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  child.stdin.on('error', () => {}); // it went before reading: its exit says why
  const { end, kill: onExit } = groupEnding(child, () => gone);
  process.once('exit', onExit); // rig leaving at once (a second Ctrl-C) leaves no playbook behind
  running.add(end);
  const done = (code: number | null, err?: Error) => {
    if (gone) return;
    gone = true;
    exitCode = err ? 127 : (code ?? 1);
    error = err;
    running.delete(end);
    process.off('exit', onExit);
    closed();
  };
  // Its verdicts are known: what is left is Ansible's own ending, left to it (rig's own end or exit ends it no more),
  // so that it cleans up after itself; only if it outlives its recap by FINISH_MS while rig runs is it ended.
  const atRecap = (resolve: () => void) => {
    recap = undefined;
    running.delete(end);
    process.off('exit', onExit);
    setTimeout(() => gone || end(), FINISH_MS).unref();
    resolve();
  };
  child.on('error', (err) => done(null, err));
  child.on('close', (code) => done(code));
  return {
    get gone() {
      return gone;
    },
    async run(inventory, hosts, timeoutMs, { untilRecap = false } = {}) {
      const recapIn = untilRecap ? new Promise<void>((resolve) => (recap = { hosts, in: resolve })) : undefined;
      try {
        if (!gone) {
          writeFileSync(inventoryFile, JSON.stringify(scriptInventory(inventory)));
          writeFileSync(limitFile, `${hosts.join('\n')}\n`);
          child.stdin.end('go\n');
        }
      } catch (err) {
        output += `\nrig: cannot hand ansible-playbook its inventory: ${(err as Error).message}\n`;
        end();
      }
      const timer = setTimeout(() => {
        output += `\nrig: ansible-playbook ran out of its ${timeoutMs / 1000} s and was ended\n`;
        end();
      }, timeoutMs);
      const finished = ended.then(() => {
        clearTimeout(timer);
        // (force: a file already gone, with the directory PlaybooksAhead.stop removes, is no failure)
        for (const file of [inventoryFile, limitFile]) rmSync(file, { force: true });
        if (error) output += `\nrig: cannot run ansible-playbook: ${error.message} (install Debian's ansible: scripts/setup)\n`;
      });
      await (recapIn ? Promise.race([finished, recapIn]) : finished);
      return { output: output.slice(-OUTPUT_KEPT), exitCode: gone ? exitCode : undefined };
    },
  };
}

/**
 * How a run is ended: its whole process group (ansible-playbook's workers and the processes of their connections:
 * nsenter, lxc-attach), TERM then KILL (`end`), or KILL at once (`kill`).
 */
function groupEnding(child: ChildProcess, gone: () => boolean): { end: () => void; kill: () => void } {
  const signalGroup = (signal: NodeJS.Signals, evenClosed = false) => {
    try {
      if ((evenClosed || !gone()) && child.pid) process.kill(-child.pid, signal);
    } catch {
      // the group is gone already: nothing is left to end
    }
  };
  return {
    end: () => {
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL', true), KILL_AFTER_MS).unref(); // what outlived ansible-playbook too
    },
    kill: () => signalGroup('SIGKILL'),
  };
}

/**
 * ansible-playbook runs started ahead of need (see startPlaybook): one a playbook, waiting, for as long as runs of it
 * are to come. `take` hands on the one that waits and starts the next behind it; `stop` ends them all, waiting or
 * running (but those whose recap is in: they end on their own), and removes their files.
 */
export class PlaybooksAhead {
  private readonly ready = new Map<string, StartedPlaybook>();
  private readonly running = new Set<() => void>();
  private dir?: string;
  private stopped = false;

  /** `toCome`: how many runs of each playbook are to come; each is started at once. Their files go under `tmp`. */
  constructor(
    private readonly toCome: Map<string, number>,
    private readonly tmp = tmpdir(),
  ) {
    for (const playbook of toCome.keys()) this.startAhead(playbook);
  }

  take(playbook: string): StartedPlaybook {
    if (this.stopped) throw new Error('rig is ending its ansible runs');
    const ready = this.ready.get(playbook);
    this.ready.delete(playbook);
    this.toCome.set(playbook, (this.toCome.get(playbook) ?? 1) - 1);
    this.startAhead(playbook);
    return ready && !ready.gone ? ready : this.start(playbook);
  }

  stop(): void {
    this.stopped = true;
    for (const end of this.running) end();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private startAhead(playbook: string): void {
    if ((this.toCome.get(playbook) ?? 0) > 0 && !this.ready.has(playbook)) this.ready.set(playbook, this.start(playbook));
  }

  private start(playbook: string): StartedPlaybook {
    return startPlaybook(playbook, (this.dir ??= mkdtempSync(join(this.tmp, 'rig-ansible-'))), this.running);
  }
}

/** ansible-playbook of `playbook` against `hosts` of `inventory`, started now (see startPlaybook). */
export function runPlaybook(
  options: { playbook: string; inventory: Inventory; hosts: string[]; dir: string; timeoutMs: number },
  running: Set<() => void>,
): Promise<PlaybookRun> {
  return startPlaybook(options.playbook, options.dir, running).run(options.inventory, options.hosts, options.timeoutMs);
}

/**
 * The inventory as an inventory script prints it: groups with lists of hosts, every host's variables under
 * `_meta.hostvars` (so Ansible asks the script nothing more). Role names cannot be `_meta` (the rig file refuses it).
 */
export function scriptInventory(inventory: Inventory) {
  const { hosts, children = {} } = inventory.all as { hosts: Record<string, object>; children?: Record<string, { hosts: object }> };
  return {
    _meta: { hostvars: hosts },
    all: { hosts: Object.keys(hosts), children: Object.keys(children) },
    ...Object.fromEntries(Object.entries(children).map(([group, g]) => [group, { hosts: Object.keys(g.hosts) }])),
  };
}

/** A host's line of the PLAY RECAP (Ansible prints it once, when every play has run): its unreachable and failed counts. */
const recapLine = (host: string, whole = '') =>
  new RegExp(`^${host.replaceAll('.', '\\.')}\\s+: ok=\\d+\\s+changed=\\d+\\s+unreachable=(\\d+)\\s+failed=(\\d+)${whole}`, 'm');

/** The output has its PLAY RECAP, with a whole line (its newline came) for each of `hosts`. */
export function recapNames(output: string, hosts: string[]): boolean {
  const at = output.search(/^PLAY RECAP \*/m);
  return at >= 0 && hosts.every((host) => recapLine(host, '.*\\n').test(output.slice(at)));
}

/** The verdict from ansible-playbook's own output (its default callback, no colour) and exit code (if it ended). */
export function verdictOf(output: string, exitCode: number | undefined, host: string, pass: 1 | 2): PlaybookVerdict {
  const { changed, failed } = tasksOf(output, host);
  // A run for several hosts fails if one does; a host whose recap shows no failure passed.
  const recap = recapLine(host).exec(output);
  const passed = recap ? recap[1] === '0' && recap[2] === '0' : exitCode === 0;
  if (!passed) {
    const why = failed.length
      ? `failed: ${failed.map((f) => `${f.task}: ${f.message}`).join('; ')}`
      : `ansible-playbook exited ${exitCode || 'with the host failed'}: ${lastLines(output)}`;
    return { code: 1, why, output };
  }
  if (pass === 2 && changed.length) return { code: 2, why: `changed on the second run: ${[...new Set(changed)].join(', ')}`, output };
  return { code: 0, output };
}

/** The tasks that changed something on the host, and those that failed with their message, in the order run. */
export function tasksOf(output: string, host: string): { changed: string[]; failed: { task: string; message: string }[] } {
  const changed: string[] = [];
  const failed: { task: string; message: string }[] = [];
  let task = '';
  for (const line of output.split('\n')) {
    const header = /^(TASK|RUNNING HANDLER) \[(.*)\] \**$/.exec(line);
    if (header) {
      task = `${header[1] === 'TASK' ? 'TASK' : 'HANDLER'} [${header[2]}]`;
      continue;
    }
    const result = /^(changed|fatal|failed): \[([^\]]+)\](.*)$/.exec(line);
    if (!result || result[2] !== host) continue;
    if (result[1] === 'changed') changed.push(task);
    else failed.push({ task, message: messageOf(result[3]) });
  }
  return { changed, failed };
}

/** A failed task's message from the JSON after `=> ` on its line (msg, else its first stderr line). */
function messageOf(rest: string): string {
  const json = rest.slice(rest.indexOf('=> ') + 3);
  try {
    const result = JSON.parse(json) as { msg?: unknown; stderr?: unknown };
    const text = typeof result.msg === 'string' && result.msg ? result.msg : typeof result.stderr === 'string' ? result.stderr : '';
    return oneLine(text) || 'no message';
  } catch {
    return oneLine(json) || 'no message';
  }
}

const oneLine = (text: string) => text.trim().split('\n').join(' ⏎ ').slice(0, 300);
const lastLines = (output: string) => oneLine(output.trimEnd().split('\n').filter(Boolean).slice(-3).join('\n'));
