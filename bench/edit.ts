// Edit-to-verdict (issue 13): from saving a live node's hiera file to the validated verdict line of `rig watch`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import type { Ctx } from './context.js';
import { SHELL_STEP, SHELL_VALIDATE, shellRigFile } from './files.js';
import type { Options } from './options.js';
import { live, NODE, repo, RIG, rigDown, run } from './process.js';
import { ratio, round, roundN, stats, timed, type Maybe, type Stats } from './util.js';

/** `rig provision` of one node against its steps and validate commands run by hand with `docker exec`. */
export interface ProvisionCost {
  rig: Stats;
  byHand: Stats;
  ratio: Maybe;
}

export interface EditToVerdict {
  shell?: Stats;
  /** The shell rig's one-line step (about 80 ms by hand): rig provision's fixed cost. */
  provisionShell?: ProvisionCost;
  /** The village's barn (Puppet and a shell step, two validate commands): the case the target is for. */
  provisionPuppet?: ProvisionCost;
  puppetByHand?: Stats;
  puppetWatch?: Stats;
  puppetRatio?: Maybe;
}

interface Verdict {
  at: number;
  passed?: boolean;
  verdict?: string;
}

/** `rig watch --json` on a rig, and its verdict lines one at a time, stamped when they arrive. */
function watchVerdicts(name: string, cwd: string) {
  const child = execa(NODE, [RIG, 'watch', '--name', name, '--json'], { cwd, reject: false, detached: true, env: { CI: 'true' } });
  const queue: Verdict[] = [];
  const waiting: ((v: Verdict) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.includes('"verdict"')) return;
    const v: Verdict = { at: performance.now(), ...(JSON.parse(line) as Omit<Verdict, 'at'>) };
    (waiting.shift() ?? ((x: Verdict) => queue.push(x)))(v);
  });
  const next = () =>
    new Promise<Verdict>((resolveNext, reject) => {
      const queued = queue.shift();
      if (queued) return resolveNext(queued);
      waiting.push(resolveNext);
      setTimeout(() => reject(new Error(`rig watch gave no verdict within 120 s`)), 120_000).unref();
    });
  // Its note once every directory is watched (stderr, a JSON line with the directories): an edit from then on is seen.
  const watching = new Promise<void>((resolveWatching, reject) => {
    let said = '';
    child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()).includes('"watching"') && resolveWatching());
    setTimeout(() => reject(new Error(`rig watch was not watching within 60 s: ${said}`)), 60_000).unref();
  });
  watching.catch(() => {}); // measure awaits it
  return { child, next, watching };
}

/** Edits `file` runs + 1 times (values in turn; the first edit warms up), each time until rig watch's verdict. */
async function measure(options: Options, name: string, dir: string, file: string, values: string[]): Promise<Stats> {
  const watch = watchVerdicts(name, dir);
  live.set(`${name}-watch`, async () => watch.child.kill('SIGINT'));
  try {
    await watch.watching;
    const ms: number[] = [];
    for (let i = 0; i < options.editRuns + 1; i++) {
      const start = performance.now();
      writeFileSync(file, values[i % values.length]);
      const verdict = await watch.next();
      if (!verdict.passed) throw new Error(`rig watch: ${verdict.verdict}`);
      if (i > 0) ms.push(roundN(verdict.at - start));
    }
    return stats(ms);
  } finally {
    watch.child.kill('SIGINT');
    await watch.child;
    live.delete(`${name}-watch`);
  }
}

/**
 * `rig provision` of one node against the same steps and validate commands run with `docker exec` by hand, alternating
 * (a warm-up first): what the node's stages, the etcd publishing and the CLI cost over the work itself.
 */
async function provisionOneNode(options: Options, name: string, dir: string, node: string, byHand: string): Promise<ProvisionCost> {
  const rigMs: number[] = [];
  const handMs: number[] = [];
  for (let i = 0; i < options.editRuns + 1; i++) {
    const viaRig = await timed(() => run(NODE, [RIG, 'provision', node, '--name', name], { cwd: dir }));
    const direct = await timed(() => run('docker', ['exec', `rig-${name}.${node.split('.')[0]}`, 'sh', '-c', byHand]));
    if (i === 0) continue; // warm-up
    rigMs.push(roundN(viaRig.ms));
    handMs.push(roundN(direct.ms));
  }
  const [rig, hand] = [stats(rigMs), stats(handMs)];
  return { rig, byHand: hand, ratio: round(ratio(rig.median, hand.median), 3) };
}

/** A shell-provisioned rig: two nodes, the step reads the live node's hiera file. */
async function shellRig(options: Options, ctx: Ctx): Promise<EditToVerdict> {
  const name = `${ctx.prefix}es`;
  const dir = join(ctx.tmp, name);
  mkdirSync(join(dir, 'hieradata', 'nodes'), { recursive: true });
  writeFileSync(join(dir, 'hieradata', 'nodes', 'live1.prod.example.yaml'), 'colour: blue\n');
  writeFileSync(join(dir, 'hieradata', 'nodes', 'live2.prod.example.yaml'), 'colour: green\n');
  writeFileSync(join(dir, 'rig.yaml'), shellRigFile(name));
  live.set(name, () => rigDown(name));
  await run(NODE, [RIG, 'up', 'rig.yaml'], { cwd: dir });
  try {
    const byHand = `cd /.rig-repo && RIG_NODE=n1.bench.test && ${SHELL_STEP} && ${SHELL_VALIDATE}`;
    const provisionShell = await provisionOneNode(options, name, dir, 'n1.bench.test', byHand);
    const shell = await measure(options, name, dir, join(dir, 'hieradata', 'nodes', 'live1.prod.example.yaml'), [
      'colour: red\n',
      'colour: blue\n',
    ]);
    return { shell, provisionShell };
  } finally {
    await rigDown(name);
    live.delete(name);
  }
}

const APPLY =
  'cd /.rig-repo && puppet apply --detailed-exitcodes --color=false --certname "$RIG_NODE" --modulepath control-repo/site-modules:$(puppet config print basemodulepath) --hiera_config control-repo/hiera.yaml control-repo/manifests/site.pp >/dev/null; rc=$?; [ $rc = 0 ] || [ $rc = 2 ]';
const VALIDATE = 'redis-cli ping >/dev/null && redis-cli info replication | grep -q role:master';
/** barn's second step, as its rig file has it. */
const RUN_ID_STEP = `/.rig/bin/rig-fact set redis_run_id "$(redis-cli info server | sed -n 's/^run_id://p' | tr -d '\\r')"`;

/** The village (Puppet, systemd): barn's live hiera file, by rig watch and by hand in barn, alternating. */
async function village(options: Options, ctx: Ctx): Promise<EditToVerdict> {
  const name = `${ctx.prefix}ev`;
  const dir = join(ctx.tmp, name);
  await run('cp', ['-r', join(repo, 'rigs', 'village'), dir]);
  live.set(name, () => rigDown(name));
  await run(NODE, [RIG, 'up', 'rig.yaml', '--name', name], { cwd: dir });
  const hiera = join(dir, 'control-repo', 'hieradata', 'nodes', 'straleb.prod.example.yaml');
  const original = readFileSync(hiera, 'utf8');
  const values = ['65mb', '64mb'].map((m) => original.replace(/maxmemory: .*/, `maxmemory: ${m}`));
  try {
    const byHand: number[] = [];
    for (let i = 0; i < options.editRuns + 1; i++) {
      writeFileSync(hiera, values[i % 2]);
      const { ms } = await timed(() => run('docker', ['exec', `rig-${name}.barn`, 'sh', '-c', `${APPLY} && ${VALIDATE}`]));
      if (i > 0) byHand.push(roundN(ms));
    }
    const puppetByHand = stats(byHand);
    const puppetWatch = await measure(options, name, dir, hiera, values);
    const provisionPuppet = await provisionOneNode(options, name, dir, 'barn.village.test', `${APPLY} && ${RUN_ID_STEP} && ${VALIDATE}`);
    return { puppetByHand, puppetWatch, puppetRatio: round(ratio(puppetWatch.median, puppetByHand.median), 3), provisionPuppet };
  } finally {
    writeFileSync(hiera, original);
    await rigDown(name);
    live.delete(name);
  }
}

/**
 * Edit-to-verdict, median of `runs`, for a shell-provisioned rig (target < 1 s) and for the village with Puppet, side
 * by side with what a user would do by hand in the node: the same `puppet apply` and validate commands (target ≤ 1.2×
 * that). The edit alternates a value, so every run changes something.
 */
export async function editToVerdict(options: Options, ctx: Ctx): Promise<EditToVerdict> {
  const result: EditToVerdict = {};
  Object.assign(result, await shellRig(options, ctx));
  Object.assign(result, await village(options, ctx));
  return result;
}
