import { ExitCode, RigError } from '../../errors.js';
import type { NodeInstance } from '../../runtime/backend.js';
import type { Engine } from '../../engine/context.js';
import { createEngine } from '../engine.js';
import { namesNode } from '../../plan/plan.js';

async function findNode(engine: Engine, node: string, rig?: string): Promise<NodeInstance> {
  const all = (await Promise.all(Object.values(engine.backends).map((b) => b.list(rig)))).flat();
  const found = all.filter((n) => namesNode(node, n.node));
  if (!found.length) throw new RigError(`No node ${node} is up.`, 'see the nodes with: rig status', ExitCode.badInput);
  if (found.length > 1) throw new RigError(`${node} names nodes in several rigs.`, 'say which with --name RIG', ExitCode.badInput);
  return found[0];
}

export async function logs(node: string, flags: { name?: string }): Promise<void> {
  const engine = await createEngine();
  const instance = await findNode(engine, node, flags.name);
  process.stdout.write(await engine.backends[instance.backend]!.logs(instance));
}

/** Run a command in a node; exits with its exit code. */
export async function exec(node: string, command: string[], flags: { name?: string }): Promise<void> {
  const engine = await createEngine();
  const instance = await findNode(engine, node, flags.name);
  const result = await engine.backends[instance.backend]!.exec(instance, command);
  process.stdout.write(result.output);
  process.exitCode = result.exitCode;
}
