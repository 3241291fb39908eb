// The macro benchmark's medians, ratios and rig's profile, per size.
import type { RunRecord } from './macro.js';
import type { ContenderName, Options } from './options.js';
import type { Phases } from './phases.js';
import { median, ratio, round, stats, type Maybe, type Stats } from './util.js';

export interface ContenderSummary {
  up: Stats;
  down: Stats;
  failed: number;
}

export interface Ratios {
  upRigBare: Maybe;
  upRigCompose: Maybe;
  downRigBare: Maybe;
  downRigCompose: Maybe;
}

/** Medians over the measured rig runs of one size. */
export interface RigPhaseSummary {
  up: Maybe;
  cliStart: Maybe;
  check: Maybe;
  network: Maybe;
  sidecars: Maybe;
  sidecarsStarted: Maybe;
  sidecarsReadyAt: Maybe;
  nodes: Maybe;
  exit: Maybe;
  lastCreatedAt: Maybe;
  lastStartedAt: Maybe;
  lastDiscoverAt: Maybe;
  lastReadyAt: Maybe;
  dhcpRetries: Maybe;
  node: Record<string, Maybe>;
}

export type SizeSummary = Partial<Record<ContenderName, ContenderSummary>> & { ratios: Ratios; rigPhases?: RigPhaseSummary };
/** By node count. */
export type Summary = Record<number, SizeSummary>;

type Measured = RunRecord & { phases: Phases };

function rigPhaseSummary(rigRuns: Measured[], up: Maybe): RigPhaseSummary {
  const p = (fn: (x: Phases) => Maybe): Maybe => round(median(rigRuns.map((r) => fn(r.phases))));
  return {
    up,
    cliStart: p((x) => x.cliStart),
    check: p((x) => x.check),
    network: p((x) => x.network),
    sidecars: p((x) => x.sidecars),
    sidecarsStarted: p((x) => x.sidecarsStarted),
    sidecarsReadyAt: p((x) => x.sidecarsReadyAt),
    nodes: p((x) => x.nodes),
    exit: p((x) => x.exit),
    lastCreatedAt: p((x) => x.lastCreatedAt),
    lastStartedAt: p((x) => x.lastStartedAt),
    lastDiscoverAt: p((x) => x.lastDiscoverAt),
    lastReadyAt: p((x) => x.lastReadyAt),
    dhcpRetries: p((x) => x.dhcpRetries),
    node: Object.fromEntries(Object.keys(rigRuns[0].phases.node).map((k) => [k, p((x) => x.node[k])])),
  };
}

export function summarise(results: RunRecord[], options: Options): Summary {
  const measured = results.filter((r) => !r.warmUp && !r.failed && !r.phases?.builtImages);
  const failures = results.filter((r) => r.failed);
  const summary: Summary = {};
  for (const n of options.sizes) {
    const size = {} as SizeSummary;
    for (const c of options.contenders) {
      const mine = measured.filter((r) => r.size === n && r.contender === c);
      const failed = failures.filter((r) => r.size === n && r.contender === c).length;
      size[c] = { up: stats(mine.map((r) => r.upMs as number)), down: stats(mine.map((r) => r.downMs as number)), failed };
    }
    const med = (c: ContenderName, kind: 'up' | 'down'): Maybe => size[c]?.[kind].median ?? null;
    size.ratios = {
      upRigBare: round(ratio(med('rig', 'up'), med('bare', 'up')), 3),
      upRigCompose: round(ratio(med('rig', 'up'), med('compose', 'up')), 3),
      downRigBare: round(ratio(med('rig', 'down'), med('bare', 'down')), 3),
      downRigCompose: round(ratio(med('rig', 'down'), med('compose', 'down')), 3),
    };
    const rigRuns = measured.filter((r): r is Measured => r.size === n && r.contender === 'rig' && !!r.phases);
    if (rigRuns.length) size.rigPhases = rigPhaseSummary(rigRuns, med('rig', 'up'));
    summary[n] = size;
  }
  return summary;
}
