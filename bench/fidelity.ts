// What production fidelity costs in `up`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ctx } from './context.js';
import { fidelityRigFile, type FidelityVariant } from './files.js';
import type { Options } from './options.js';
import { live, NODE, RIG, rigDown, run } from './process.js';
import { ratio, round, roundN, stats, timed, type Maybe, type Stats } from './util.js';

const VARIANTS = {
  plain: { init: 'rig', mirrors: false },
  systemd: { init: 'systemd', mirrors: false },
  liveNames: { init: 'rig', mirrors: true },
} satisfies Record<string, FidelityVariant>;
type Variant = keyof typeof VARIANTS;

export type Fidelity = { nodes: number } & Record<Variant, Stats> & { systemdRatio: Maybe; liveNamesRatio: Maybe };

/**
 * What production fidelity costs in `up` (to every node ready), side by side in one run, alternating: nodes booting
 * systemd vs the same image with rig's agent as PID 1 (issue 11: ≤ 1.5×), and nodes mirroring live names (each
 * one an answer in dnsmasq) vs none (issue 11: nothing measurable).
 */
export async function fidelityCost(options: Options, ctx: Ctx): Promise<Fidelity> {
  const n = 4;
  const ms: Record<Variant, number[]> = { plain: [], systemd: [], liveNames: [] };
  for (let i = 0; i < options.fidelityRuns + 1; i++) {
    for (const [key, variant] of Object.entries(VARIANTS) as [Variant, FidelityVariant][]) {
      const name = `${ctx.prefix}fi${key.slice(0, 3).toLowerCase()}${i}`;
      const file = join(ctx.tmp, `${name}.yaml`);
      writeFileSync(file, fidelityRigFile(name, n, variant));
      live.set(name, () => rigDown(name));
      const { ms: t } = await timed(() => run(NODE, [RIG, 'up', file]));
      await run(NODE, [RIG, 'down', '--name', name]);
      live.delete(name);
      if (i > 0) ms[key].push(roundN(t)); // the first round warms the cache (unpacked tools, page cache)
    }
  }
  const s = { plain: stats(ms.plain), systemd: stats(ms.systemd), liveNames: stats(ms.liveNames) };
  return {
    nodes: n,
    ...s,
    systemdRatio: round(ratio(s.systemd.median, s.plain.median), 3),
    liveNamesRatio: round(ratio(s.liveNames.median, s.plain.median), 3),
  };
}
