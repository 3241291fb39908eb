// The contenders. Each `up` makes N containers of the same image on one internal bridge network and returns once
// they run; `down` removes them and the network. What "up" waits for differs by design: see bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ctx } from './context.js';
import { composeFile, rigFile } from './files.js';
import type { ContenderName } from './options.js';
import { rigPhases, stepEvents, type Phases } from './phases.js';
import { live, NODE, quiet, RIG, rigDown, run } from './process.js';
import { rigTrace } from './trace.js';
import { log, range, timed } from './util.js';

export interface UpResult {
  ms: number;
  /** rig only: where its time went */
  phases?: Phases;
}

export interface Contender {
  name: ContenderName;
  up(n: number, name: string): Promise<UpResult>;
  down(name: string): Promise<{ ms: number }>;
}

/** What `rig up --json` prints on stdout: one status per rig. */
export interface RigStatus {
  etcd: string;
  nodes: { stage: string }[];
}

/** The rig made by `rig up --json` and where its time went. */
function rigContender(ctx: Ctx): Contender {
  return {
    name: 'rig',
    async up(n, name) {
      const file = join(ctx.tmp, `${name}.yaml`);
      writeFileSync(file, rigFile(name, n));
      live.set(name, () => rigDown(name));
      const wallStart = Date.now();
      const { ms, result } = await timed(() => run(NODE, [RIG, 'up', file, '--json']));
      const wallEnd = Date.now();
      const events = stepEvents(result.stderr);
      const [status] = JSON.parse(result.stdout) as RigStatus[];
      const ready = status.nodes.filter((node) => node.stage === 'ready').length;
      if (ready !== n) throw new Error(`rig up ${name}: ${ready} of ${n} nodes ready`);
      // Not timed: what Docker and dnsmasq saw, for the profile. A failure here costs the profile, not the run.
      const trace = await rigTrace(name, wallStart, wallEnd).catch(
        (err: Error) => (log(`bench: no trace of ${name}: ${err.message}`), null),
      );
      return { ms, phases: rigPhases(events, trace, wallStart, wallEnd) };
    },
    async down(name) {
      const { ms } = await timed(() => run(NODE, [RIG, 'down', '--name', name]));
      live.delete(name);
      return { ms };
    },
  };
}

/**
 * At most this many `docker run`s (and container removes) of the bare contender at once. 160 to 200 concurrent
 * creates or removes once deadlocked Docker 20.10 on this kind of machine; with 200 `docker rm -f`s at once (the CLI
 * runs 50 of one call's removes in parallel) the engine once kept a stale endpoint on the network. Rows up to 32
 * nodes are unchanged by it: all their containers start at once, as a user's shell loop would start them.
 */
export const BARE_IN_FLIGHT = 32;

/** Run `work` on every item, at most `limit` at once. */
async function inBatches<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  };
  await Promise.all(range(Math.min(limit, items.length)).map(worker));
}

/** A network and N `docker run -d ... sleep infinity`, in parallel (at most BARE_IN_FLIGHT at once). */
function bareContender(ctx: Ctx): Contender {
  const benchLabel = `io.rig.bench=${ctx.runId}`;
  const names = (name: string, n: number) => range(n).map((i) => `${name}-n${i}`);
  // One `docker rm -f` per slice of BARE_IN_FLIGHT names, one after the other: the CLI removes a slice in parallel.
  const removeAll = async (containers: string[], remove: typeof run) => {
    for (let i = 0; i < containers.length; i += BARE_IN_FLIGHT)
      await remove('docker', ['rm', '-f', ...containers.slice(i, i + BARE_IN_FLIGHT)]);
  };
  return {
    name: 'bare',
    async up(n, name) {
      const containers = names(name, n);
      live.set(name, async () => {
        await removeAll(containers, quiet);
        await quiet('docker', ['network', 'rm', name]);
      });
      const { ms } = await timed(async () => {
        await run('docker', ['network', 'create', '--internal', '--label', benchLabel, name]);
        await inBatches(containers, BARE_IN_FLIGHT, (c) =>
          run('docker', ['run', '-d', '--name', c, '--network', name, '--label', benchLabel, ctx.image, 'sleep', 'infinity']),
        );
      });
      return { ms };
    },
    async down(name) {
      const containers = names(name, ctx.sizeOf.get(name) ?? 0);
      const { ms } = await timed(async () => {
        await removeAll(containers, run);
        await run('docker', ['network', 'rm', name]);
      });
      live.delete(name);
      return { ms };
    },
  };
}

/** `docker-compose up --detach` of a generated file. */
function composeContender(ctx: Ctx): Contender {
  const args = (name: string) => ['--project-name', name, '--file', join(ctx.tmp, name, 'docker-compose.yml')];
  return {
    name: 'compose',
    async up(n, name) {
      const dir = join(ctx.tmp, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'docker-compose.yml'), composeFile(n, ctx.image, ctx.runId));
      live.set(name, () => quiet('docker-compose', [...args(name), 'down', '--timeout', '0']));
      const { ms } = await timed(() => run('docker-compose', [...args(name), 'up', '--detach']));
      return { ms };
    },
    async down(name) {
      const { ms } = await timed(() => run('docker-compose', [...args(name), 'down', '--timeout', '0']));
      live.delete(name);
      return { ms };
    },
  };
}

export function makeContenders(ctx: Ctx): Record<ContenderName, Contender> {
  return { rig: rigContender(ctx), bare: bareContender(ctx), compose: composeContender(ctx) };
}
