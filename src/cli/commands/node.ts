import { ExitCode, RigError } from '../../errors.js';
import type { NodeInstance } from '../../runtime/backend.js';
import type { Engine } from '../../engine/context.js';
import { createEngine, settings } from '../engine.js';
import { whichRig } from '../which-rig.js';
import { namesNode } from '../../plan/plan.js';

/** A node by FQDN or short name, in the rig named (--name, else RIG_NAME), else in whichever rig has it. */
async function findNode(engine: Engine, node: string, name?: string): Promise<NodeInstance> {
  const rig = name ?? settings().rigName;
  const all = (await Promise.all(Object.values(engine.backends).map((b) => b.list(rig)))).flat();
  const found = all.filter((n) => namesNode(node, n.node));
  if (!found.length) throw new RigError(`No node ${node} is up${rig ? ` in rig ${rig}` : ''}.`, 'see the nodes with: rig status', ExitCode.badInput);
  if (found.length > 1) {
    const here = await whichRig(engine).catch(() => undefined); // the rig file of this directory, if any
    const mine = found.find((n) => n.rig === here);
    if (mine) return mine;
    throw new RigError(`${node} names nodes in ${found.length} rigs: ${found.map((n) => n.rig).join(', ')}.`, 'say which with --name RIG (or set RIG_NAME)', ExitCode.badInput);
  }
  return found[0];
}

export async function logs(node: string, flags: { name?: string }): Promise<void> {
  const engine = await createEngine();
  const instance = await findNode(engine, node, flags.name);
  process.stdout.write(await engine.backends[instance.backend]!.logs(instance));
}

// No command: a login shell, bash where the node has it.
const LOGIN_SHELL = ['/bin/sh', '-c', 'command -v bash >/dev/null 2>&1 && exec bash -l; exec sh -l'];

/**
 * Run a command in a node, like docker exec: stdout and stderr apart and as they come, stdin with -i, a terminal
 * with -t (both by default when rig's own stdin is a terminal); exits with the command's exit code.
 */
export async function exec(node: string, command: string[], flags: { name?: string; interactive?: boolean; tty?: boolean }): Promise<void> {
  const engine = await createEngine();
  const instance = await findNode(engine, node, flags.name);
  const terminal = !!process.stdin.isTTY;
  const tty = flags.tty ?? terminal;
  const interactive = flags.interactive ?? terminal;
  if (tty && interactive && process.stdin.isTTY) process.stdin.setRawMode(true);
  try {
    process.exitCode = await engine.backends[instance.backend]!.attach(instance, command.length ? command : LOGIN_SHELL, {
      stdin: interactive ? process.stdin : undefined,
      stdout: process.stdout,
      stderr: process.stderr,
      tty,
    });
  } finally {
    if (tty && interactive && process.stdin.isTTY) process.stdin.setRawMode(false);
  }
}
