// rig's benchmark (issue 6): rig against bare `docker run` and Debian's docker-compose, in one run on one machine,
// plus micro-benchmarks (CLI start, cached image build, fact publish -> waiter wake-up, edit -> verdict, what
// fidelity costs, kill -> reaction, what a reaction costs). See bench/README.md. bench/bench.mjs compiles these
// modules to dist-bench/ and runs this one.
//
// Everything it makes is named bench-<run id>-... and removed in `finally`, on Ctrl-C and SIGTERM too. Networks are
// internal; traffic goes only to loopback and to the containers made here.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { Ctx } from './context.js';
import { ansibleCost } from './ansible.js';
import { lxdCost } from './lxd.js';
import { clusterSpread } from './lxd-cluster.js';
import { BARE_IN_FLIGHT } from './contenders.js';
import { editToVerdict } from './edit.js';
import { factLatency } from './facts.js';
import { fidelityCost } from './fidelity.js';
import { machine, otherContainers, snapshot, type Machine } from './machine.js';
import { macro, type RunRecord } from './macro.js';
import { cachedBuild, cliStart } from './micro.js';
import { reactions } from './reactions.js';
import { parseOptions, type Options } from './options.js';
import { cleanupAll, Interrupted, NODE, onInterrupt, repo, RIG, run, sweep, useRig } from './process.js';
import { printMacro, printMicro, printTargets, type Micro } from './report.js';
import { summarise, type Summary } from './summary.js';
import { targets, type Target } from './targets.js';
import { errorMessage, lines, log, round, type Maybe } from './util.js';

/** The --json file. */
interface Report {
  started: string;
  runId: string;
  options: Options;
  machine: Machine;
  image?: string;
  otherContainersAtStart?: string[];
  loadAtStart?: Maybe[];
  runs?: RunRecord[];
  micro?: Micro;
  otherContainersAtEnd?: string[];
  loadAtEnd?: Maybe[];
  summary?: Summary;
  targets?: Target[];
  finished?: string;
  error?: string;
}

/** Make sure rig's images exist, and learn the base image's tag (bare and compose use it too). */
async function baseImage(runId: string): Promise<string> {
  log(`bench ${runId}: making sure rig's images are built (rig images build)`);
  const built = await run(NODE, [RIG, 'images', 'build'], { timeout: 1_800_000 });
  const image = lines(built.stdout)
    .map((l) => l.split(' ')[0])
    .find((ref) => ref.startsWith('rig/base:'));
  if (!image) throw new Error(`rig images build did not name the base image:\n${built.stdout}`);
  return image;
}

async function micro(options: Options, ctx: Ctx, report: Report): Promise<void> {
  const m: Micro = (report.micro = {});
  const { runId } = ctx;
  log(`bench ${runId}: rig --version vs node -e 0, ${options.versionRuns} each`);
  m.cliStart = await cliStart(options);
  log(`bench ${runId}: rig images build with everything cached, ${options.buildRuns} runs`);
  m.cachedBuild = await cachedBuild(options);
  log(`bench ${runId}: fact publish -> waiter wake-up, ${options.publishes} publishes on a 2-node rig`);
  m.facts = await factLatency(options, ctx);
  log(`bench ${runId}: edit -> verdict in rig watch, ${options.editRuns} edits + 1 warm-up, shell rig and the village (Puppet) vs by hand`);
  m.edit = await editToVerdict(options, ctx);
  log(`bench ${runId}: what fidelity costs: init: systemd and live names vs plain nodes, ${options.fidelityRuns} runs + 1 warm-up each`);
  m.fidelity = await fidelityCost(options, ctx);
  log(
    `bench ${runId}: reactions on a 2-node rig: rig kill -> the peer's reaction, ${options.reactionKills} kills; a reaction vs docker exec, ${options.reactionRuns} runs + 1 warm-up`,
  );
  m.reactions = await reactions(options, ctx);
  log(`bench ${runId}: an ansible step (rigs/orchard): rig provision vs ansible-playbook by hand, ${options.ansibleRuns} runs each`);
  m.ansible = await ansibleCost(options, ctx);
  log(`bench ${runId}: a rig of ${options.lxdNodes} LXD nodes: rig up vs as many lxc launch at once, ${options.lxdRuns} runs + 1 warm-up`);
  m.lxd = await lxdCost(options, ctx);
  // Not in the smoke run: a test cluster and the import of rig's images into it take minutes of the CI's time.
  if (options.smoke) return log(`bench ${runId}: the LXD cluster spread is left out of the smoke run`);
  log(
    `bench ${runId}: a rig of ${options.clusterNodes} LXD nodes over the three members of a test cluster vs on one, ${options.clusterRuns} runs + 1 warm-up each`,
  );
  m.cluster = await clusterSpread(options, ctx);
}

async function measure(options: Options, ctx: Ctx, report: Report): Promise<void> {
  ctx.image = report.image = await baseImage(ctx.runId);
  report.otherContainersAtStart = await otherContainers(ctx.prefix);
  report.loadAtStart = os.loadavg().map((x) => round(x, 2));
  const load = report.loadAtStart[0] ?? 0;
  if (load > os.cpus().length / 2)
    log(`bench: note: load average ${load} on ${os.cpus().length} CPUs: other work on this machine will show in the numbers`);
  if (report.otherContainersAtStart.length)
    log(`bench: note: ${report.otherContainersAtStart.length} other containers are running on this engine; they add noise`);
  if (options.macro) {
    log(
      `bench ${ctx.runId}: up/down of ${options.sizes.join(', ')} nodes, ${options.runs} runs + 1 warm-up each, alternating ${options.contenders.join(', ')} (image ${ctx.image})`,
    );
    report.runs = [];
    await macro(options, ctx, report.runs);
  }
  if (options.micro) await micro(options, ctx, report);
  report.otherContainersAtEnd = await otherContainers(ctx.prefix);
  report.loadAtEnd = os.loadavg().map((x) => round(x, 2));
}

/** The tables and the targets: a failed or interrupted run still reports what it measured before. */
function print(report: Report, options: Options): void {
  if (report.runs?.some((r) => !r.warmUp && !r.failed)) report.summary = summarise(report.runs, options);
  if (report.summary) printMacro(report.summary, options);
  if (report.micro && Object.keys(report.micro).length) printMicro(report.micro);
  if (report.summary || report.micro) {
    report.targets = targets(report.summary, report.micro, options);
    printTargets(report.targets);
    console.log(
      '\nrig up returns when every node is ready (DHCP lease, DNS name, facts in etcd); bare and compose return when the containers run.',
    );
    console.log(
      'down: rig down as rig does it (it has no stop-timeout flag), bare docker rm -f (SIGKILL), compose down --timeout 0 (SIGKILL at once).',
    );
    if (options.sizes.some((n) => n > BARE_IN_FLIGHT))
      console.log(
        `bare is paced past ${BARE_IN_FLIGHT} nodes: at most ${BARE_IN_FLIGHT} docker runs at once, and docker rm -f of ${BARE_IN_FLIGHT} names at a time; rig paces its own engine calls.`,
      );
  }
}

export async function main(argv: string[]): Promise<void> {
  onInterrupt();
  const options = parseOptions(argv);
  const runId = Math.random().toString(36).slice(2, 6).padEnd(4, '0');
  const prefix = `bench-${runId}-`;
  const tmp = mkdtempSync(join(os.tmpdir(), prefix));
  const ctx: Ctx = { runId, prefix, tmp, sizeOf: new Map(), image: '', failures: 0 };
  useRig(await snapshot(tmp));
  const report: Report = {
    started: new Date().toISOString(),
    runId,
    options: { ...options, json: relative(repo, options.json) },
    machine: await machine(),
  };
  let failure: unknown;
  try {
    await measure(options, ctx, report);
  } catch (err) {
    failure = err;
  } finally {
    await cleanupAll();
    const left = await sweep(prefix);
    if (left.length) log(`bench: also removed what was left over: ${left.join(', ')}`);
    rmSync(tmp, { recursive: true, force: true });
  }
  print(report, options);
  report.finished = new Date().toISOString();
  if (failure) report.error = errorMessage(failure);
  mkdirSync(dirname(options.json), { recursive: true });
  writeFileSync(options.json, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nresults: ${relative(process.cwd(), options.json)}`);
  if (failure instanceof Interrupted) {
    log('bench: interrupted; everything it made is removed');
    process.exit(130);
  }
  if (failure) {
    log(`bench: failed: ${(failure as Error).stack ?? failure}`);
    process.exit(1);
  }
}
