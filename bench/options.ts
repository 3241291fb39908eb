// The bench's command line.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { repo } from './process.js';
import { errorMessage } from './util.js';

export const CONTENDERS = ['rig', 'bare', 'compose'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

export const USAGE = `usage: node bench/bench.mjs [options]   (or: npm run bench -- [options])
  --sizes LIST        node counts, comma-separated (default 1,4,12,24)
  --runs N            measured runs per contender and size, after one warm-up (default 5)
  --json FILE         where to write the results (default bench/results/<timestamp>.json)
  --smoke             a quick check that the bench still works (CI): sizes 1, runs 1, short micro-benchmarks
  --only WHAT         macro (rig/bare/compose up and down) or micro (CLI start, cached build, fact wake-up,
                      init: systemd and live names vs plain nodes, kill -> reaction, reaction cost,
                      an ansible step, a rig on LXD vs lxc launch)
  --contenders LIST   a subset of rig,bare,compose (default all three)`;

export interface Options {
  smoke: boolean;
  sizes: number[];
  runs: number;
  contenders: ContenderName[];
  macro: boolean;
  micro: boolean;
  json: string;
  // micro-benchmark counts (the issue: 20 CLI starts each, 5 cached builds, 100 publishes)
  versionRuns: number;
  buildRuns: number;
  publishes: number;
  fidelityRuns: number;
  editRuns: number;
  /** `rig kill` of a node to its peer's reaction */
  reactionKills: number;
  /** a reaction against the same step by docker exec, after a warm-up */
  reactionRuns: number;
  /** rig provision of the orchard example against its playbook by hand (each way once a run) */
  ansibleRuns: number;
  /** rig up of LXD nodes against lxc launch of as many */
  lxdNodes: number;
  lxdRuns: number;
  /** nodes of the rig spread over the test cluster's members, and on one (bench/lxd-cluster.ts) */
  clusterNodes: number;
  clusterRuns: number;
}

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        sizes: { type: 'string' },
        runs: { type: 'string' },
        json: { type: 'string' },
        smoke: { type: 'boolean', default: false },
        only: { type: 'string' },
        contenders: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    return usageError(errorMessage(err));
  }
}

export function parseOptions(argv: string[]): Options {
  const parsed = parse(argv);
  if (parsed.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const smoke = parsed.smoke ?? false;
  const sizes = (parsed.sizes ?? (smoke ? '1' : '1,4,12,24')).split(',').map((s) => Number(s.trim()));
  if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 200))
    usageError(`--sizes: whole numbers from 1 to 200, not ${parsed.sizes}`);
  const runs = Number(parsed.runs ?? (smoke ? 1 : 5));
  if (!Number.isInteger(runs) || runs < 1) usageError(`--runs: a whole number of at least 1, not ${parsed.runs}`);
  if (parsed.only && !['macro', 'micro'].includes(parsed.only)) usageError(`--only: macro or micro, not ${parsed.only}`);
  const contenders = (parsed.contenders ?? CONTENDERS.join(',')).split(',').map((s) => s.trim());
  if (contenders.some((c) => !(CONTENDERS as readonly string[]).includes(c)))
    usageError(`--contenders: a subset of ${CONTENDERS.join(',')}, not ${parsed.contenders}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    smoke,
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    runs,
    contenders: CONTENDERS.filter((c) => contenders.includes(c)),
    macro: parsed.only !== 'micro',
    micro: parsed.only !== 'macro',
    json: resolve(parsed.json ?? join(repo, 'bench', 'results', `${stamp}.json`)),
    versionRuns: smoke ? 3 : 20,
    buildRuns: smoke ? 1 : 5,
    publishes: smoke ? 20 : 100,
    fidelityRuns: smoke ? 1 : 5,
    editRuns: smoke ? 1 : 5,
    reactionKills: smoke ? 1 : 7,
    reactionRuns: smoke ? 1 : 7,
    ansibleRuns: smoke ? 1 : 3,
    lxdNodes: smoke ? 2 : 12,
    lxdRuns: smoke ? 1 : 3,
    clusterNodes: 40,
    clusterRuns: 2, // not in the smoke run (bench/main.ts)
  };
}
