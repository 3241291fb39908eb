import { spawn } from 'node:child_process';
import { dirname } from 'node:path';

/** What a node is told of its ansible step: its exit code for rig-steps and, unless 0, why. */
export interface PlaybookVerdict {
  code: 0 | 1 | 2; // 2: the second run of --idempotent changed something
  why?: string;
  output: string; // what ansible-playbook printed, its end if it printed much
}

/** How long an ended run's processes have between TERM and KILL (ms). */
const KILL_AFTER_MS = 2000;

/** The most of a run's output kept for the node's log (etcd carries it there); the end is what tells. */
const OUTPUT_KEPT = 256 * 1024;

/** What one ansible-playbook run printed (its end, if it printed much) and its exit code (127: it could not start). */
export interface PlaybookRun {
  output: string;
  exitCode: number;
}

/**
 * ansible-playbook of `playbook` against some hosts of the inventory, from the playbook's directory (its
 * ansible.cfg, roles/, group_vars/ and host_vars/ count as Ansible counts them), with pipelining (one process per
 * module in the node, no files copied first). `running` holds a way to end it while it runs: its whole process group.
 */
export function runPlaybook(
  options: { playbook: string; inventory: string; hosts: string[]; timeoutMs: number },
  running: Set<() => void>,
): Promise<PlaybookRun> {
  return new Promise((resolve) => {
    const child = spawn('ansible-playbook', ['-i', options.inventory, '--limit', options.hosts.join(','), options.playbook], {
      cwd: dirname(options.playbook),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // a process group of its own: its forks and connections end with it, and a terminal's Ctrl-C is rig's to handle
      env: {
        ...process.env,
        ANSIBLE_PIPELINING: 'True',
        ANSIBLE_NOCOLOR: 'True',
        ANSIBLE_FORCE_COLOR: 'False',
        ANSIBLE_RETRY_FILES_ENABLED: 'False',
        ANSIBLE_HOST_KEY_CHECKING: 'False',
        ANSIBLE_STDOUT_CALLBACK: 'default',
      },
    });
    let output = '';
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let closed = false;
    // The whole group: ansible-playbook's workers and the processes of their connections (nsenter, lxc-attach).
    const signalGroup = (signal: NodeJS.Signals, evenClosed = false) => {
      try {
        if ((evenClosed || !closed) && child.pid) process.kill(-child.pid, signal);
      } catch {
        // the group is gone already: nothing is left to end
      }
    };
    const end = () => {
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL', true), KILL_AFTER_MS).unref(); // what outlived ansible-playbook too
    };
    // rig leaving at once (a second Ctrl-C) leaves no playbook behind.
    const onExit = () => signalGroup('SIGKILL');
    process.once('exit', onExit);
    running.add(end);
    const timer = setTimeout(() => {
      output += `\nrig: ansible-playbook ran out of its ${options.timeoutMs / 1000} s and was ended\n`;
      end();
    }, options.timeoutMs);
    const done = (exitCode: number | null, error?: Error) => {
      closed = true;
      clearTimeout(timer);
      running.delete(end);
      process.off('exit', onExit);
      if (error) output += `\nrig: cannot run ansible-playbook: ${error.message} (install Debian's ansible: scripts/setup)\n`;
      resolve({ output: output.slice(-OUTPUT_KEPT), exitCode: error ? 127 : (exitCode ?? 1) });
    };
    child.on('error', (err) => done(null, err));
    child.on('close', (code) => done(code));
  });
}

/** The verdict from ansible-playbook's own output (its default callback, no colour) and exit code. */
export function verdictOf(output: string, exitCode: number, host: string, pass: 1 | 2): PlaybookVerdict {
  const { changed, failed } = tasksOf(output, host);
  // A run for several hosts fails if one does; a host whose recap shows no failure passed.
  const recap = new RegExp(`^${host.replaceAll('.', '\\.')}\\s+: ok=\\d+\\s+changed=\\d+\\s+unreachable=(\\d+)\\s+failed=(\\d+)`, 'm').exec(
    output,
  );
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
