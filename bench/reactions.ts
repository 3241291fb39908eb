// Reactions (issue 22): from `rig kill` of a node to its peer's reaction starting, and what a reaction costs over
// the same step run by hand with `docker exec`, on a 2-node rig (barn, and mill reacting to it).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdClient, type WatchEvent } from '../dist/facts/etcd.js';
import type { RigStatus } from './contenders.js';
import type { Ctx } from './context.js';
import { etcdRootAuth } from './facts.js';
import { REACTION_WORK, reactionRigFile } from './files.js';
import type { Options } from './options.js';
import { checkInterrupted, live, NODE, repo, RIG, rigDown, run } from './process.js';
import { ratio, round, roundN, sleep, stats, timed, type Maybe, type Stats } from './util.js';

export interface KillToReaction {
  /** the agent's liveness lease TTL, seconds (images/tools/rig-fact) */
  ttl: Maybe;
  /** from just before `rig kill barn` to mill's stage `reacting to barn.stage` seen by a host watch */
  reaction: Stats;
  /** `rig kill barn`'s own time, start to exit (the node is dead when it returns) */
  killCall: Stats;
  /** from just before `rig kill barn` to barn's alive key gone (rig kill revokes its lease), seen by the same watch */
  lost: Stats;
  /** from the alive key gone to the reaction's stage: mill's watch, its runner, its login and stage write */
  agent: Stats;
  /** reaction runs each kill and start made (the loop guard allows 5 in 30 s) */
  runsPerCycle: number[];
}

export interface ReactionCost {
  /** from just before the host's put of barn's fact to mill's `ready` after its reaction ran the step */
  reaction: Stats;
  /** from the put to mill's `reacting to` stage */
  start: Stats;
  /** `docker exec` of the same step in mill */
  byHand: Stats;
  ratio: Maybe;
}

export interface Reactions {
  kill?: KillToReaction;
  cost?: ReactionCost;
}

interface Seen {
  value: string;
  at: number;
  revision: number; // etcd's, of the write: orders writes seen by different watches
}

/** Every write of one key, stamped (performance.now) as rig's etcd watch delivers it in this process. */
class KeyLog {
  readonly seen: Seen[] = [];
  private wake: (() => void)[] = [];

  constructor(readonly what: string) {}

  record(event: WatchEvent): void {
    this.seen.push({
      value: event.type === 'delete' ? '(deleted)' : event.value,
      at: performance.now(),
      revision: Number(event.modRevision),
    });
    for (const w of this.wake.splice(0)) w();
  }

  /** The first write after `after` (and after etcd revision `afterRevision`) that `matches`, waited for up to `timeoutMs`. */
  async next(matches: (value: string) => boolean, after: number, timeoutMs = 30_000, afterRevision = 0): Promise<Seen> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      checkInterrupted();
      const found = this.seen.find((s) => s.at > after && s.revision > afterRevision && matches(s.value));
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`reactions: ${this.what}: nothing as awaited within ${timeoutMs / 1000} s (last: ${this.last()})`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, Math.min(left, 500));
        this.wake.push(() => (clearTimeout(timer), res()));
      });
    }
  }

  last(): string {
    return this.seen.at(-1)?.value ?? 'nothing yet';
  }

  /** Until the key's last write is `ready` and nothing came for `quietMs` (a burst of reaction runs is over). */
  async settled(quietMs: number, timeoutMs = 60_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      checkInterrupted();
      const last = this.seen.at(-1);
      if (last?.value.startsWith('failed')) throw new Error(`reactions: ${this.what}: ${last.value}`);
      if (last?.value === 'ready' && performance.now() - last.at >= quietMs) return;
      if (performance.now() > deadline)
        throw new Error(`reactions: ${this.what} not ready and quiet within ${timeoutMs / 1000} s (last: ${this.last()})`);
      await sleep(100);
    }
  }
}

const STAGE_REACTION = 'reacting to barn.stage';
/** The loop guard (images/tools/rig-react): a 6th run of one reaction within 30 s stops it; 3 s of margin. */
const GUARD_RUNS = 5;
const GUARD_WINDOW_MS = 33_000;

/** The agent's lease TTL, as images/tools/rig-fact sets it, for the report. */
function aliveTtl(): Maybe {
  const found = /alive_ttl=\$\{RIG_ALIVE_TTL:-(\d+)\}/.exec(readFileSync(join(repo, 'images', 'tools', 'rig-fact'), 'utf8'));
  return found ? Number(found[1]) : null;
}

/** Waits until a kill and a start, `perCycle` more runs of mill's stage reaction, stay within the loop guard. */
async function roomInGuard(stages: KeyLog, perCycle: number): Promise<void> {
  for (;;) {
    const since = performance.now() - GUARD_WINDOW_MS;
    const recent = stages.seen.filter((s) => s.value.startsWith(STAGE_REACTION) && s.at > since);
    if (recent.length + perCycle <= GUARD_RUNS || !recent.length) return;
    await sleep(Math.max(100, recent[0].at - since + 50));
  }
}

/**
 * `rig kill barn`, timed from just before the call (the CLI's start included) to mill's stage `reacting to
 * barn.stage`, and to barn's alive key going; then barn's reaction ends, `rig start barn` brings it back, and the
 * runs its return triggers are let settle. Kills are spaced so that mill's reaction never meets the loop guard.
 */
async function killToReaction(options: Options, name: string, stages: KeyLog, alive: KeyLog): Promise<KillToReaction> {
  const [reactionMs, killMs, lostMs, agentMs, runsPerCycle] = [[], [], [], [], []] as number[][];
  for (let i = 0; i < options.reactionKills; i++) {
    await stages.settled(1500);
    await roomInGuard(stages, Math.max(3, ...runsPerCycle));
    const runsBefore = stages.seen.filter((s) => s.value.startsWith(STAGE_REACTION)).length;
    const before = performance.now();
    await run(NODE, [RIG, 'kill', 'barn', '--name', name]);
    const killed = performance.now();
    const lost = await alive.next((v) => v === '(deleted)', before);
    // The reaction to this kill: written after the key went (a late run of the last cycle's, to barn's return, is not it).
    const reacting = await stages.next((v) => v.startsWith(STAGE_REACTION), before, 30_000, lost.revision);
    await stages.next((v) => v === 'ready', reacting.at);
    await run(NODE, [RIG, 'start', 'barn', '--name', name]);
    await stages.settled(1500);
    runsPerCycle.push(stages.seen.filter((s) => s.value.startsWith(STAGE_REACTION)).length - runsBefore);
    reactionMs.push(roundN(reacting.at - before));
    killMs.push(roundN(killed - before));
    lostMs.push(roundN(lost.at - before));
    agentMs.push(roundN(reacting.at - lost.at));
  }
  return {
    ttl: aliveTtl(),
    reaction: stats(reactionMs),
    killCall: stats(killMs),
    lost: stats(lostMs),
    agent: stats(agentMs),
    runsPerCycle,
  };
}

/**
 * A put of barn's fact `fact` from the host (rig's client, as facts.ts puts) to mill's `ready` after its reaction ran
 * REACTION_WORK, against `docker exec` of the same command in mill, alternating; the first pair warms up.
 */
async function reactionCost(options: Options, name: string, client: EtcdClient, stages: KeyLog, facts: string[]): Promise<ReactionCost> {
  const [reactionMs, startMs, handMs] = [[] as number[], [] as number[], [] as number[]];
  const byHand = () => timed(() => run('docker', ['exec', `rig-${name}.mill`, '/bin/sh', '-ec', REACTION_WORK]));
  const viaReaction = async (fact: string) => {
    await stages.settled(300);
    const before = performance.now();
    await client.put(`/rig/${name}/nodes/barn.bench.test/facts/${fact}`, 'v');
    const started = await stages.next((v) => v.startsWith(`reacting to barn.${fact}`), before);
    const done = await stages.next((v) => v === 'ready', started.at);
    return { ms: done.at - before, startMs: started.at - before };
  };
  for (let i = 0; i <= options.reactionRuns; i++) {
    const first = i % 2 ? await byHand() : await viaReaction(facts[i]);
    const second = i % 2 ? await viaReaction(facts[i]) : await byHand();
    if (i === 0) continue; // warm-up
    const [hand, reaction] =
      i % 2 ? [first, second as { ms: number; startMs: number }] : [second, first as { ms: number; startMs: number }];
    handMs.push(roundN(hand.ms));
    reactionMs.push(roundN(reaction.ms));
    startMs.push(roundN(reaction.startMs));
  }
  const [reaction, hand] = [stats(reactionMs), stats(handMs)];
  return { reaction, start: stats(startMs), byHand: hand, ratio: round(ratio(reaction.median, hand.median), 3) };
}

/** Both reaction benchmarks on one 2-node rig, watched from the host with rig's own etcd client. */
export async function reactions(options: Options, ctx: Ctx): Promise<Reactions> {
  const name = `${ctx.prefix}r`;
  const file = join(ctx.tmp, `${name}.yaml`);
  const facts = Array.from({ length: options.reactionRuns + 1 }, (_, i) => `bench_r${i}`);
  writeFileSync(file, reactionRigFile(name, facts));
  live.set(name, () => rigDown(name));
  let client: EtcdClient | undefined;
  try {
    const up = await run(NODE, [RIG, 'up', file, '--json']);
    const [status] = JSON.parse(up.stdout) as RigStatus[];
    const auth = await etcdRootAuth(name);
    client = new EtcdClient(status.etcd, { name: 'root', password: auth.password }, auth.socket);
    const stages = new KeyLog("mill's stage");
    const alive = new KeyLog("barn's alive key");
    const node = (fqdn: string) => `/rig/${name}/nodes/${fqdn}`;
    const {
      revision,
      kvs: [stage],
    } = await client.range(`${node('mill.bench.test')}/stage`);
    if (stage) stages.seen.push({ value: stage.value, at: performance.now(), revision: Number(stage.modRevision) });
    await client.watch(`${node('mill.bench.test')}/stage`, (e) => stages.record(e), { afterRevision: revision });
    await client.watch(`${node('barn.bench.test')}/alive`, (e) => alive.record(e), { afterRevision: revision });
    const result: Reactions = {};
    result.cost = await reactionCost(options, name, client, stages, facts);
    result.kill = await killToReaction(options, name, stages, alive);
    return result;
  } finally {
    client?.close();
    await rigDown(name);
    live.delete(name);
  }
}
