// Running commands, interruption and cleanup. Children run in their own process group (detached), so a Ctrl-C
// reaches only the bench, which stops the running child through its cancel signal (SIGTERM: `rig up` removes its
// half-made rig itself) and then removes everything it made. A second Ctrl-C only warns; a third quits at once.
import { setMaxListeners } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Result } from 'execa';
import { lines, log, tailOf } from './util.js';

/** The checkout (the compiled bench runs from dist-bench/, one level down as bench/ is). */
export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const NODE = process.execPath;
/** The rig CLI the bench runs: the checkout's, until main() has taken a snapshot (useRig). */
export let RIG = join(repo, 'bin', 'rig');
export function useRig(path: string): void {
  RIG = path;
}

export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}

export const abort = new AbortController();
setMaxListeners(1000, abort.signal); // one listener per running child: 24 docker runs at once

let signalCount = 0;
function onSignal(signal: NodeJS.Signals): void {
  signalCount++;
  if (signalCount === 1) {
    log(`\nbench: ${signal}: stopping, then removing everything this run made (Ctrl-C twice more quits at once)`);
    abort.abort(new Interrupted(signal));
  } else if (signalCount === 2) {
    log('bench: still cleaning up; once more quits now and may leave bench-* containers and networks behind');
  } else {
    process.exit(130);
  }
}

export function onInterrupt(): void {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Throws the interruption once the bench is interrupted. */
export function checkInterrupted(): void {
  if (abort.signal.aborted) throw abort.signal.reason;
}

/** Teardowns of what exists now (or may: registered before it is made), by name. */
export const live = new Map<string, () => Promise<unknown>>();

export interface RunOptions {
  cwd?: string;
  timeout?: number;
  /** false: return a failed result instead of throwing */
  reject?: boolean;
  /** more environment, over the bench's own */
  env?: Record<string, string>;
}

export type RunResult = Result<{ reject: false }>;

/** Run a measured or setup command; it stops when the bench is interrupted. */
export async function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  checkInterrupted();
  const result = await execa(file, args, {
    cancelSignal: abort.signal,
    detached: true,
    forceKillAfterDelay: 60_000, // an interrupted `rig up` removes its rig before it exits
    timeout: options.timeout ?? 600_000,
    cwd: options.cwd,
    env: options.env,
    stdin: 'ignore', // nothing measured reads it, and `lxc launch` waits on an open pipe for a config
    reject: false,
  });
  checkInterrupted();
  if (result.failed && options.reject !== false) {
    const why = result.timedOut ? 'timed out' : `exited ${result.exitCode ?? result.signal}`;
    throw new Error(`${file} ${args.join(' ')} ${why}:\n${tailOf(result.stderr || result.stdout)}`);
  }
  return result;
}

/** Run a teardown command: never cancelled, never throws. */
export function quiet(file: string, args: string[], { env }: { env?: Record<string, string> } = {}): Promise<RunResult> {
  return execa(file, args, { detached: true, stdin: 'ignore', reject: false, timeout: 300_000, env });
}

/** `rig down --name NAME` as a teardown. */
export const rigDown = (name: string): Promise<RunResult> => quiet(NODE, [RIG, 'down', '--name', name]);

export async function cleanupAll(): Promise<void> {
  const teardowns = [...live.entries()];
  live.clear();
  if (teardowns.length) log(`bench: removing ${teardowns.map(([name]) => name).join(', ')}`);
  await Promise.all(teardowns.map(([, teardown]) => teardown().catch(() => {})));
}

/** Whatever still carries this run's prefix: rigs (through rig down), then containers and networks. */
export async function sweep(prefix: string): Promise<string[]> {
  const left: string[] = [];
  const rigs = await quiet('docker', ['network', 'ls', '--filter', 'label=io.rig.rig', '--format', '{{.Label "io.rig.rig"}}']);
  for (const name of lines(rigs.stdout).filter((n) => n.startsWith(prefix))) {
    left.push(`rig ${name}`);
    await rigDown(name);
  }
  const containers = lines((await quiet('docker', ['ps', '-a', '--filter', `name=${prefix}`, '--format', '{{.Names}}'])).stdout);
  if (containers.length) {
    left.push(...containers);
    await quiet('docker', ['rm', '-f', ...containers]);
  }
  const networks = lines((await quiet('docker', ['network', 'ls', '--filter', `name=${prefix}`, '--format', '{{.Name}}'])).stdout);
  for (const network of networks) {
    left.push(`network ${network}`);
    await quiet('docker', ['network', 'rm', network]);
  }
  return left;
}
