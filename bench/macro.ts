// Macro benchmark: for each size, one warm-up iteration and `runs` measured ones. In each iteration every contender
// runs once (up, then down), in an order that rotates from one iteration to the next, so drift in the machine's
// state (page cache, other load) spreads over all of them instead of favouring one.
import os from 'node:os';
import type { Ctx } from './context.js';
import { makeContenders, type Contender, type UpResult } from './contenders.js';
import type { ContenderName, Options } from './options.js';
import type { Phases } from './phases.js';
import { Interrupted, live } from './process.js';
import { errorMessage, log, round, sec } from './util.js';

/** One up and down of a contender, or a failed attempt at it. */
export interface RunRecord {
  size: number;
  contender: ContenderName;
  iteration: number;
  warmUp: boolean;
  id: string;
  upMs?: number | null;
  downMs?: number | null;
  failed?: true;
  error?: string;
  load1: number | null;
  phases?: Phases;
}

interface Turn {
  n: number;
  contender: Contender;
  iteration: number;
  label: string;
}

/**
 * One contender's turn. A failed run is a result too (recorded, counted in the table, left out of the medians):
 * clean up and try again, up to 3 times, so each contender still gets its runs.
 */
async function turn(t: Turn, ctx: Ctx, results: RunRecord[], nextId: () => string): Promise<void> {
  const { n, contender, iteration, label } = t;
  const name = contender.name;
  const warmUp = iteration === 0;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const id = nextId();
    ctx.sizeOf.set(id, n);
    let up: UpResult;
    let down: { ms: number };
    try {
      up = await contender.up(n, id);
      down = await contender.down(id);
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      const teardown = live.get(id);
      live.delete(id);
      await teardown?.().catch(() => {});
      const error = errorMessage(err);
      log(`  ${String(n).padStart(2)} nodes  ${label.padEnd(9)}  ${name.padEnd(7)}  FAILED: ${error.split('\n').slice(-3).join(' | ')}`);
      results.push({ size: n, contender: name, iteration, warmUp, id, failed: true, error, load1: round(os.loadavg()[0], 2) });
      if (++ctx.failures >= 25) throw new Error(`${ctx.failures} runs failed; stopping (the last: ${error})`);
      continue;
    }
    const built = up.phases?.builtImages ? ' (built images: run discarded)' : '';
    const load1 = round(os.loadavg()[0], 2); // other work on the machine shows here
    log(
      `  ${String(n).padStart(2)} nodes  ${label.padEnd(9)}  ${name.padEnd(7)}  up ${sec(up.ms)} s  down ${sec(down.ms)} s  (load ${load1})${built}`,
    );
    results.push({ size: n, contender: name, iteration, warmUp, id, upMs: round(up.ms), downMs: round(down.ms), load1, phases: up.phases });
    return;
  }
}

export async function macro(options: Options, ctx: Ctx, results: RunRecord[]): Promise<void> {
  const contenders = makeContenders(ctx);
  let seq = 0;
  for (const n of options.sizes) {
    for (let iteration = 0; iteration <= options.runs; iteration++) {
      const label = iteration === 0 ? 'warm-up' : `run ${iteration}/${options.runs}`;
      const order = options.contenders.map((_, i, all) => all[(i + iteration) % all.length]);
      for (const name of order) {
        const nextId = () => `${ctx.prefix}${name[0]}${++seq}`;
        await turn({ n, contender: contenders[name], iteration, label }, ctx, results, nextId);
      }
    }
  }
}
