// The targets of issues 6, 11, 13, 21, 22 and 25, judged from one run's results.
import type { Micro } from './report.js';
import type { Options } from './options.js';
import type { Summary } from './summary.js';
import { msf, times, type Maybe } from './util.js';

export interface Target {
  target: string;
  value: string;
  /** null: shown, not judged */
  met: boolean | null;
  note: string;
}

type Add = (target: string, value: string, met: boolean | null, note?: string) => void;

/**
 * Linear means a constant cost per added node: the last segment's per-node cost may not exceed the one from the
 * smallest size to the one before the largest by more than 25 % (room for noise).
 */
function linearGrowth(summary: Summary, sizes: number[], add: Add): void {
  const up = (n: number): Maybe => summary[n].rig?.up.median ?? null;
  const [first, before, last] = [sizes[0], sizes[sizes.length - 2], sizes[sizes.length - 1]];
  const [a, b, c] = [up(first), up(before), up(last)];
  if (a === null || b === null || c === null) return;
  const early = (b - a) / (before - first);
  const late = (c - b) / (last - before);
  // Bare docker run on the same machine, for scale: its own growth shows what the engine adds.
  const [ba, bb, bc] = [first, before, last].map((n) => summary[n].bare?.up.median ?? null);
  const bareNote =
    ba !== null && bb !== null && bc !== null
      ? `; bare: ${msf((bc - bb) / (last - before))} vs ${msf((bb - ba) / (before - first))} ms/node`
      : '';
  add(
    `up grows no worse than linearly, ${first}→${last} nodes`,
    `${msf(late)} ms/node ${before}→${last} vs ${msf(early)} ms/node ${first}→${before}`,
    late <= early * 1.25,
    `met when the last segment costs ≤ 1.25× per node${bareNote}`,
  );
}

/**
 * The 12-node ratio targets are judged at 12 nodes; at other sizes the ratio is shown for information (rig's
 * fixed cost makes a 1-node ratio say nothing about them). The 1-node target is judged at 1 node.
 */
function macroTargets(summary: Summary, options: Options, add: Add): void {
  const sizes = options.sizes;
  const at = sizes.includes(12) ? 12 : sizes[sizes.length - 1];
  const note = at === 12 ? '' : `measured at ${at} node${at > 1 ? 's' : ''}; the target is set at 12`;
  const judge = (value: Maybe, met: (x: number) => boolean) => (value === null || at !== 12 ? null : met(value));
  const has = (c: string) => (options.contenders as string[]).includes(c);
  const r = summary[at].ratios;
  if (has('rig') && has('bare'))
    add(
      '12-node up ≤ 1.3× bare parallel docker run',
      times(r.upRigBare),
      judge(r.upRigBare, (x) => x <= 1.3),
      note,
    );
  if (has('rig') && has('compose'))
    add(
      '12-node up faster than compose up',
      times(r.upRigCompose),
      judge(r.upRigCompose, (x) => x < 1),
      note,
    );
  if (has('rig') && has('bare'))
    add(
      '12-node down ≤ 1.2× docker rm -f',
      times(r.downRigBare),
      judge(r.downRigBare, (x) => x <= 1.2),
      note,
    );
  // Issue 13: an edit-test loop brings up small rigs, all fixed cost.
  const one = summary[1]?.ratios.upRigBare ?? null;
  if (has('rig') && has('bare') && sizes.includes(1))
    add('1-node up ≤ 2× one bare docker run', times(one), one === null ? null : one <= 2, '');
  if (has('rig') && sizes.length >= 3) linearGrowth(summary, sizes, add);
  // Issue 21.17: a 200-node rig against 200 docker runs, which need pacing on this kind of machine (BARE_IN_FLIGHT).
  const big = summary[200]?.ratios.upRigBare ?? null;
  if (has('rig') && has('bare') && sizes.includes(200))
    add('200-node up faster than 200 bare docker runs (paced)', times(big), big === null ? null : big < 1, '');
}

function microTargets(micro: Micro, add: Add): void {
  const le = (x: Maybe | undefined, limit: number) => x !== null && x !== undefined && x <= limit;
  const lt = (x: Maybe | undefined, limit: number) => x !== null && x !== undefined && x < limit;
  const waiter = micro.facts?.node ?? micro.facts?.host;
  const where = micro.facts?.node ? 'waiter inside a node (rig-fact wait)' : 'host-side waiter';
  if (waiter) add('fact waiter wake-up p50 < 50 ms', `${msf(waiter.p50)} ms (p99 ${msf(waiter.p99)} ms)`, lt(waiter.p50, 50), where);
  if (micro.cliStart) add('rig --version ≤ 2× node -e 0', times(micro.cliStart.ratio), le(micro.cliStart.ratio, 2));
  const edit = micro.edit;
  if (edit?.shell)
    add('edit -> verdict in rig watch, shell-provisioned rig < 1 s', `${msf(edit.shell.median)} ms`, lt(edit.shell.median, 1000), 'median');
  // Judged where steps do real work (barn: a Puppet run and a shell step). With a one-line step (about 80 ms by
  // hand) the ratio is rig's fixed cost alone, more than a bare Node start: shown, in ms, not judged.
  if (edit?.provisionPuppet)
    add(
      'rig provision of one node ≤ 1.2× its steps + validate by docker exec',
      times(edit.provisionPuppet.ratio),
      le(edit.provisionPuppet.ratio, 1.2),
      'village barn (Puppet), side by side',
    );
  if (edit?.provisionShell)
    add(
      'rig provision fixed cost (one-line shell step)',
      `+${msf((edit.provisionShell.rig.median ?? NaN) - (edit.provisionShell.byHand.median ?? NaN))} ms`,
      null,
      `${times(edit.provisionShell.ratio)} of ${msf(edit.provisionShell.byHand.median)} ms by hand; shown, not judged`,
    );
  if (edit?.puppetRatio)
    add(
      'edit -> verdict, Puppet (village) ≤ 1.2× puppet apply + validate by hand',
      times(edit.puppetRatio),
      le(edit.puppetRatio, 1.2),
      'side by side',
    );
  const f = micro.fidelity;
  if (f) {
    add(
      'systemd node ready ≤ 1.5× a plain node of the same image',
      times(f.systemdRatio),
      le(f.systemdRatio, 1.5),
      `${f.nodes} nodes, side by side`,
    );
    add(
      'live-name resolution adds nothing measurable to up',
      times(f.liveNamesRatio),
      le(f.liveNamesRatio, 1.1),
      'met within 10 % (run-to-run noise)',
    );
  }
  const r = micro.reactions;
  if (r?.kill)
    add(
      "rig kill -> peer's reaction starts < 3 s",
      `${msf(r.kill.reaction.median)} ms (max ${msf(r.kill.reaction.max)} ms)`,
      lt(r.kill.reaction.median, 3000),
      `median of ${r.kill.reaction.n}; rig kill revokes the lease (TTL ${r.kill.ttl ?? '?'} s)`,
    );
  if (r?.cost)
    add(
      'a reaction ≤ 1.2× its step by docker exec',
      times(r.cost.ratio),
      le(r.cost.ratio, 1.2),
      `medians, side by side, ${msf(r.cost.byHand.median)} ms by hand`,
    );
  const a = micro.ansible;
  if (a)
    add(
      'rig provision of an ansible step ≤ 1.1× ansible-playbook by hand',
      times(a.ratio),
      le(a.ratio, 1.1),
      `orchard example, its validate included, ${msf(a.byHand.median)} ms by hand`,
    );
  if (micro.cachedBuild) add('cached image build < 1 s', `${msf(micro.cachedBuild.median)} ms`, lt(micro.cachedBuild.median, 1000));
}

export function targets(summary: Summary | undefined, micro: Micro | undefined, options: Options): Target[] {
  const out: Target[] = [];
  // A smoke run (one run of each, CI) keeps the bench working; it measures nothing to judge a target by.
  const add: Add = (target, value, met, note = '') =>
    void out.push(options.smoke ? { target, value, met: null, note: 'smoke run: one run, not judged' } : { target, value, met, note });
  if (summary) macroTargets(summary, options, add);
  if (micro) microTargets(micro, add);
  return out;
}
