// A rig on LXD (issue 24) against the same number of containers launched by hand with LXD's own client.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ctx } from './context.js';
import { lxdRigFile } from './files.js';
import type { Options } from './options.js';
import { live, NODE, quiet, repo, RIG, rigDown, run } from './process.js';
import { lines, range, ratio, round, roundN, stats, timed, type Maybe, type Stats } from './util.js';

export interface LxdCost {
  nodes: number;
  /** `lxc launch` of rig's base image, all at once (no NIC: the host's daemon has no managed network) */
  byHand: Stats;
  /** `rig up` of a rig of that many `backend: lxd` nodes: every node leased, named and its facts in etcd */
  rig: Stats;
  ratio: Maybe;
}

const lxdHost = join(repo, 'scripts', 'lxd-host');

/** The alias rig gave its base image in LXD's store (the newest, if older builds are kept too). */
async function rigBaseAlias(): Promise<string> {
  const listed = await run('lxc', ['image', 'list', '--format', 'csv', '--columns', 'lu']);
  const aliases = lines(listed.stdout)
    .map((l) => l.split(','))
    .filter(([alias]) => alias?.startsWith('rig-base-'))
    .sort((a, b) => (b[1] ?? '').localeCompare(a[1] ?? ''));
  if (!aliases[0]?.[0]) throw new Error(`no rig-base-* image in LXD's store after rig up:\n${listed.stdout}`);
  return aliases[0][0];
}

/** N instances of `image` launched at once, each with a plain init; resolves once every one runs. */
async function launchByHand(image: string, names: string[], runId: string): Promise<void> {
  await Promise.all(
    names.map((name) =>
      run(
        'lxc',
        [
          'launch',
          image,
          name,
          '--config',
          'security.privileged=true', // as rig's LXD nodes are (README, LXD nodes)
          '--config',
          'raw.lxc=lxc.init.cmd = /bin/sleep infinity',
          '--config',
          `user.rig-bench=${runId}`,
        ],
        { timeout: 300_000 },
      ),
    ),
  );
}

const deleteAll = (names: string[]) => quiet('lxc', ['delete', '--force', ...names]);

/**
 * `rig up` of an N-node rig of LXD nodes against N `lxc launch` of the same image at once, alternating, after one
 * warm-up round (the first rig up imports rig's images into LXD's store). The host's LXD daemon is started for it
 * (scripts/lxd-host) if none answers, and stopped after only if this started it.
 */
export async function lxdCost(options: Options, ctx: Ctx): Promise<LxdCost> {
  const n = options.lxdNodes;
  const started = (await quiet(lxdHost, ['status'])).exitCode !== 0;
  await run(lxdHost, ['up'], { timeout: 180_000 });
  const ms = { rig: [] as number[], byHand: [] as number[] };
  try {
    for (let i = 0; i < options.lxdRuns + 1; i++) {
      const name = `${ctx.prefix}lxd${i}`;
      const file = join(ctx.tmp, `${name}.yaml`);
      writeFileSync(file, lxdRigFile(name, n));
      live.set(name, () => rigDown(name));
      const up = await timed(() => run(NODE, [RIG, 'up', file]));
      await run(NODE, [RIG, 'down', '--name', name]);
      live.delete(name);

      const names = range(n).map((k) => `${ctx.prefix}l${i}-${k}`);
      live.set(`${name}-by-hand`, () => deleteAll(names));
      const image = await rigBaseAlias();
      const byHand = await timed(() => launchByHand(image, names, ctx.runId));
      await run('lxc', ['delete', '--force', ...names]);
      live.delete(`${name}-by-hand`);
      if (i > 0) {
        ms.rig.push(roundN(up.ms));
        ms.byHand.push(roundN(byHand.ms));
      }
    }
  } finally {
    if (started) await quiet(lxdHost, ['down']);
  }
  const s = { rig: stats(ms.rig), byHand: stats(ms.byHand) };
  return { nodes: n, ...s, ratio: round(ratio(s.rig.median, s.byHand.median), 3) };
}
