import { rigStatus, type RigStatus } from '../../engine/status.js';
import { ExitCode, RigError } from '../../errors.js';
import { bringUp, type UpFlags } from './up.js';
import type { UpRig } from '../../engine/bring-up.js';
import { interruptedError } from '../../engine/reporter.js';
import { checkReportPath, checkTimeoutOption, runValidations } from './test.js';
import { namesNode, type Plan } from '../../plan/plan.js';
import { warn } from '../output.js';
import { listNodes } from '../../engine/nodes.js';
import { NodeRuns } from '../../engine/node-runs.js';

export interface RunFlags extends UpFlags {
  on?: string;
  test?: boolean;
  junit?: string;
  testTimeout?: string;
}

/** RIG_NAME, RIG_DNS, RIG_ETCD, RIG_SUBNET, RIG_NODES, and per node RIG_<SHORT>_IP / RIG_<SHORT>_FQDN (documented in the README). */
function rigEnvironment(status: RigStatus): Record<string, string> {
  const env: Record<string, string> = {
    RIG_NAME: status.name,
    RIG_DNS: status.dns,
    RIG_ETCD: status.etcd,
    RIG_SUBNET: status.subnet,
    RIG_NODES: status.nodes.map((n) => n.fqdn).join(' '),
  };
  for (const node of status.nodes) {
    const key = node.fqdn
      .split('.')[0]
      .toUpperCase()
      .replace(/[^A-Z0-9]/g, '_');
    env[`RIG_${key}_IP`] = node.ip;
    env[`RIG_${key}_FQDN`] = node.fqdn;
  }
  return env;
}

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

/**
 * rig run: bring the rig up and wait for it, run the command (on the host with the rig's addresses in its
 * environment, or in a node with --on, or the rig's validations with --test), then always take the rig down.
 * Exits with the command's exit code. A host command runs in a process group of its own, which the reaper
 * ends with the rig if rig dies; Ctrl-C and SIGTERM are passed on to it, then what is left of its group is ended
 * (background children too) and the rig is taken down (exit 130). What runs in the nodes (--on, --test) is ended
 * there, its process group whole.
 */
export async function run(rigFile: string, command: string[], flags: RunFlags): Promise<void> {
  if (!command.length && !flags.test)
    throw new RigError('Nothing to run.', 'rig run RIGFILE -- COMMAND..., or rig run RIGFILE --test', ExitCode.badInput);
  if (flags.junit && !flags.test) throw new RigError('--junit needs --test.', 'rig run RIGFILE --test --junit FILE', ExitCode.badInput);
  if (flags.testTimeout !== undefined && !flags.test)
    throw new RigError('--test-timeout needs --test.', 'rig run RIGFILE --test --test-timeout 2m', ExitCode.badInput);
  const testTimeout = checkTimeoutOption(flags.testTimeout, '--test-timeout');
  if (flags.junit) checkReportPath(flags.junit);
  const checkNode = (plan: Plan) => {
    if (flags.on && !plan.nodes.some((n) => namesNode(flags.on!, n.spec.name))) {
      throw new RigError(
        `No node ${flags.on} in rig ${plan.name}.`,
        `nodes: ${plan.nodes.map((n) => n.spec.name).join(', ')}`,
        ExitCode.badInput,
      );
    }
  };
  const rig = await bringUp(rigFile, flags, checkNode);
  let exitCode: number = ExitCode.failed;
  try {
    const [status] = await rigStatus(rig.engine, rig.plan.name);
    const interrupted = new AbortController(); // what runs in the nodes is ended on an interrupt
    rig.interrupts.on(() => interrupted.abort());
    if (rig.interrupts.signal) {
      // Interrupted as the rig became ready: run nothing.
    } else if (flags.test) {
      exitCode = await runValidations(
        rig.engine,
        rig.plan.name,
        { junit: flags.junit, json: flags.json, timeout: testTimeout },
        interrupted.signal,
      );
    } else if (flags.on) {
      const node = status.nodes.find((n) => namesNode(flags.on!, n.fqdn));
      if (!node)
        throw new RigError(
          `No node ${flags.on} in rig ${rig.plan.name}.`,
          `nodes: ${status.nodes.map((n) => n.fqdn).join(', ')}`,
          ExitCode.badInput,
        );
      const instance = (await listNodes(rig.engine, rig.plan.name)).find((n) => n.node === node.fqdn)!;
      const result = await new NodeRuns(rig.engine, interrupted.signal).run(instance, command.map(shellQuote).join(' '));
      process.stdout.write(result.output);
      exitCode = result.exitCode;
    } else {
      exitCode = await runOnHost(command, rigEnvironment(status), rig);
    }
  } finally {
    if (exitCode !== 0 && flags.keepOnFailure && !rig.interrupts.signal) {
      rig.reaper.disarm();
      warn(`the command failed; kept rig ${rig.plan.name}. Remove it with: rig down --name ${rig.plan.name}`);
    } else {
      await rig.down();
    }
    rig.interrupts.release();
  }
  if (rig.interrupts.signal) throw interruptedError(`rig ${rig.plan.name} was removed`);
  process.exitCode = exitCode;
}

/** How long a host command has to end after an interrupt is passed on to it, before its group is ended (ms). */
const COMMAND_GRACE_MS = 10_000;

async function runOnHost(command: string[], env: Record<string, string>, rig: UpRig): Promise<number> {
  const { execa } = await import('execa');
  // Its own process group, so that the reaper can end it and what it started; with a terminal for input it stays
  // in the terminal's foreground group (a background group may not read it), and the reaper ends the process.
  const ownGroup = !process.stdin.isTTY;
  // With a terminal, what the command starts is found by a mark in its environment (see endCommand).
  const mark = `${process.pid}-${Date.now()}`;
  const child = execa(command[0], command.slice(1), {
    stdio: 'inherit',
    reject: false,
    env: { ...env, RIG_RUN_ID: mark },
    detached: ownGroup,
  });
  let ending: Promise<void> | undefined;
  if (child.pid) {
    rig.reaper.command(child.pid);
    rig.interrupts.on((signal) => {
      ending = endCommand(child.pid!, child, signal, ownGroup ? undefined : mark);
    });
  }
  const result = await child;
  await ending;
  rig.reaper.command(undefined);
  if (result.failed && result.exitCode === undefined && !result.signal)
    throw new RigError(`Could not run ${command[0]}: ${result.shortMessage}`, 'check the command after --', ExitCode.badInput);
  return result.exitCode ?? ExitCode.failed;
}

/**
 * On an interrupt: the signal on to the command (its group; with a terminal, the terminal sent SIGINT to it already),
 * then, once it has ended (or COMMAND_GRACE_MS later), TERM and KILL to what is left of its group: its background
 * children too (a shell without job control starts them deaf to SIGINT). With a terminal the command shares rig's
 * group (and the terminal's): what is ended then is every process with the command's `mark` in its environment.
 */
async function endCommand(pid: number, child: Promise<unknown>, signal: NodeJS.Signals, mark: string | undefined): Promise<void> {
  if (!mark || signal !== 'SIGINT') {
    try {
      process.kill(mark ? pid : -pid, signal);
    } catch {
      // it has ended already
    }
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([child, new Promise((resolve) => (timer = setTimeout(resolve, COMMAND_GRACE_MS)))]);
  clearTimeout(timer);
  const { endProcesses, processesWith } = await import('../process-group.js');
  await endProcesses(mark ? processesWith('RIG_RUN_ID', mark) : [-pid]);
}
