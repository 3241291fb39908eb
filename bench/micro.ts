// Micro-benchmarks of the CLI: its start, and a build with every image cached.
import type { Options } from './options.js';
import { NODE, RIG, run } from './process.js';
import { ratio, round, roundN, stats, timed, type Maybe, type Stats } from './util.js';

export interface CliStart {
  rigVersion: Stats;
  nodeE0: Stats;
  ratio: Maybe;
}

/** `rig --version` against `node -e 0`: both start a node process; alternated, after two warm-ups each. */
export async function cliStart(options: Options): Promise<CliStart> {
  const rigMs: number[] = [];
  const nodeMs: number[] = [];
  const once = async (which: 'rig' | 'node'): Promise<number> => {
    const args = which === 'rig' ? [RIG, '--version'] : ['-e', '0'];
    const { ms } = await timed(() => run(NODE, args));
    return ms;
  };
  for (let i = 0; i < 2; i++) {
    await once('rig');
    await once('node');
  }
  for (let i = 0; i < options.versionRuns; i++) {
    if (i % 2) {
      nodeMs.push(await once('node'));
      rigMs.push(await once('rig'));
    } else {
      rigMs.push(await once('rig'));
      nodeMs.push(await once('node'));
    }
  }
  const rig = stats(rigMs.map((x) => roundN(x)));
  const node = stats(nodeMs.map((x) => roundN(x)));
  return { rigVersion: rig, nodeE0: node, ratio: round(ratio(rig.median, node.median), 3) };
}

/** `rig images build` when every image is already built (the first call made sure of that). */
export async function cachedBuild(options: Options): Promise<Stats> {
  const ms: number[] = [];
  for (let i = 0; i < options.buildRuns; i++) {
    const { ms: t, result } = await timed(() => run(NODE, [RIG, 'images', 'build']));
    if (/\(built\)/.test(result.stdout))
      throw new Error(`rig images build built something on run ${i + 1}: another change to images/ while the bench ran?\n${result.stdout}`);
    ms.push(roundN(t));
  }
  return stats(ms);
}
