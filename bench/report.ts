// The tables the bench prints on stdout.
import type { AnsibleCost } from './ansible.js';
import type { LxdCost } from './lxd.js';
import type { ClusterSpread } from './lxd-cluster.js';
import type { EditToVerdict } from './edit.js';
import type { FactLatency } from './facts.js';
import type { Fidelity } from './fidelity.js';
import type { CliStart } from './micro.js';
import type { Options } from './options.js';
import type { Reactions } from './reactions.js';
import type { RigPhaseSummary, Summary } from './summary.js';
import type { Target } from './targets.js';
import { msf, sec, table, times, type Stats } from './util.js';

export interface Micro {
  cliStart?: CliStart;
  cachedBuild?: Stats;
  facts?: FactLatency;
  edit?: EditToVerdict;
  fidelity?: Fidelity;
  reactions?: Reactions;
  ansible?: AnsibleCost;
  lxd?: LxdCost;
  cluster?: ClusterSpread;
}

function printUpDown(summary: Summary, options: Options): void {
  const rows: string[][] = [];
  const cell = (s: Stats) => (s.median === null ? '-' : `${sec(s.median)} [${sec(s.min)}–${sec(s.max)}]`);
  for (const n of options.sizes) {
    for (const c of options.contenders) {
      const s = summary[n][c]!;
      const r = summary[n].ratios;
      const extra =
        c === 'rig' ? [times(r.upRigBare), times(r.upRigCompose), times(r.downRigBare), times(r.downRigCompose)] : ['', '', '', ''];
      rows.push([c === options.contenders[0] ? String(n) : '', c, cell(s.up), cell(s.down), ...extra, s.failed ? String(s.failed) : '']);
    }
  }
  console.log(
    `\nup and down, seconds: median [min–max] of ${options.runs} run${options.runs > 1 ? 's' : ''} after a warm-up, contenders alternating`,
  );
  console.log(
    table(['nodes', 'contender', 'up', 'down', 'up rig/bare', 'up rig/compose', 'down rig/bare', 'down rig/compose', 'failed'], rows),
  );
}

function printRigSteps(profiled: [number, RigPhaseSummary][]): void {
  const steps = profiled.map(([n, p]) => [
    String(n),
    msf(p.up),
    msf(p.cliStart),
    msf(p.check),
    msf(p.network),
    `${msf(p.sidecars)} (${msf(p.sidecarsStarted)})`,
    msf(p.nodes),
    msf(p.exit),
  ]);
  console.log('\nwhere rig up time goes, ms (medians over runs)');
  console.log('  cli start: spawn to the first step (node, imports, rig file, engine ping, reaper); sidecars: until dnsmasq and etcd');
  console.log('  answer (in parentheses: until both containers had started); nodes step: to the last node ready (where nodes start');
  console.log('  while the sidecars do, it holds the sidecars); status+exit: last node ready to exit (status, marking the rig kept)');
  console.log(table(['nodes', 'rig up', 'cli start', 'check', 'network', 'sidecars', 'nodes step', 'status+exit'], steps));
}

function printNodePhases(profiled: [number, RigPhaseSummary][]): void {
  const both = (p: RigPhaseSummary, k: string) => `${msf(p.node[`${k}Median`])} [${msf(p.node[`${k}Max`])}]`;
  const phases = ['create', 'start', 'attach', 'dhcp', 'addressed', 'facts', 'ready'];
  const last = (p: RigPhaseSummary) => [p.sidecarsReadyAt, p.lastCreatedAt, p.lastStartedAt, p.lastDiscoverAt, p.lastReadyAt].map(msf);
  const nodes = profiled.map(([n, p]) => [String(n), ...phases.map((k) => both(p, k)), ...last(p), String(p.dhcpRetries ?? '-')]);
  console.log(
    '\nthe nodes step per node, ms: median over nodes [slowest node], medians over runs; "last ...": from the start of the nodes step',
  );
  console.log("  create: to Docker's create event; start: create to start event;");
  console.log('  attach: start to first DHCP discover (inspect, veth, the agent finds eth0); dhcp: discover to ack;');
  console.log('  addressed: ack to the stage seen by rig; facts, ready: from the stage before; sidecars up: when dnsmasq and etcd');
  console.log('  answered (a node is wired to the bridge only then); retries: nodes that sent more than one discover');
  console.log(table(['nodes', ...phases, 'sidecars up', 'last create', 'last start', 'last discover', 'last ready', 'retries'], nodes));
}

export function printMacro(summary: Summary, options: Options): void {
  printUpDown(summary, options);
  if (!options.contenders.includes('rig')) return;
  const profiled = options.sizes.flatMap((n): [number, RigPhaseSummary][] => (summary[n].rigPhases ? [[n, summary[n].rigPhases]] : []));
  printRigSteps(profiled);
  printNodePhases(profiled);
}

function microRows(micro: Micro): string[][] {
  const rows: string[][] = [];
  const range = (s: Stats) => `${msf(s.min)}–${msf(s.max)} ms`;
  const c = micro.cliStart;
  if (c) {
    rows.push(['rig --version', `${msf(c.rigVersion.median)} ms`, range(c.rigVersion), `${c.rigVersion.n} runs`]);
    rows.push(['node -e 0', `${msf(c.nodeE0.median)} ms`, range(c.nodeE0), `ratio ${times(c.ratio)}`]);
  }
  const b = micro.cachedBuild;
  if (b) rows.push(['rig images build (cached)', `${msf(b.median)} ms`, range(b), `${b.n} runs`]);
  const f = micro.facts;
  if (f?.node)
    rows.push(['fact publish -> node waiter, p50', `${msf(f.node.p50)} ms`, `p99 ${msf(f.node.p99)} ms`, `${f.publishes} publishes`]);
  if (f?.host)
    rows.push(['fact publish -> host waiter, p50', `${msf(f.host.p50)} ms`, `p99 ${msf(f.host.p99)} ms`, `${f.publishes} publishes`]);
  if (f?.putRoundTrip) rows.push(['  etcd put round trip, p50', `${msf(f.putRoundTrip.p50)} ms`, `p99 ${msf(f.putRoundTrip.p99)} ms`, '']);
  const e = micro.edit;
  if (e?.shell) rows.push(['edit -> verdict, rig watch, shell steps', `${msf(e.shell.median)} ms`, range(e.shell), `${e.shell.n} edits`]);
  for (const [label, cost] of [
    ['shell rig', e?.provisionShell],
    ['village barn, Puppet', e?.provisionPuppet],
  ] as const) {
    if (!cost) continue;
    rows.push([`steps + validate by docker exec, ${label}`, `${msf(cost.byHand.median)} ms`, range(cost.byHand), `${cost.byHand.n} runs`]);
    rows.push([`rig provision, ${label}`, `${msf(cost.rig.median)} ms`, range(cost.rig), `ratio ${times(cost.ratio)}`]);
  }
  if (e?.puppetByHand)
    rows.push([
      'puppet apply + validate by hand (village)',
      `${msf(e.puppetByHand.median)} ms`,
      range(e.puppetByHand),
      `${e.puppetByHand.n} edits`,
    ]);
  if (e?.puppetWatch)
    rows.push([
      'edit -> verdict, rig watch (village)',
      `${msf(e.puppetWatch.median)} ms`,
      range(e.puppetWatch),
      `ratio ${times(e.puppetRatio ?? null)}`,
    ]);
  const fi = micro.fidelity;
  if (fi) {
    rows.push([`up, ${fi.nodes} nodes, rig:systemd, agent as PID 1`, `${msf(fi.plain.median)} ms`, range(fi.plain), `${fi.plain.n} runs`]);
    rows.push([
      `up, ${fi.nodes} nodes, init: systemd`,
      `${msf(fi.systemd.median)} ms`,
      range(fi.systemd),
      `ratio ${times(fi.systemdRatio)}`,
    ]);
    rows.push([
      `up, ${fi.nodes} nodes mirroring live names`,
      `${msf(fi.liveNames.median)} ms`,
      range(fi.liveNames),
      `ratio ${times(fi.liveNamesRatio)}`,
    ]);
  }
  rows.push(...reactionRows(micro.reactions));
  rows.push(...ansibleRows(micro.ansible));
  rows.push(...lxdRows(micro.lxd));
  rows.push(...clusterRows(micro.cluster));
  return rows;
}

function ansibleRows(a: AnsibleCost | undefined): string[][] {
  if (!a) return [];
  const range = (s: Stats) => `${msf(s.min)}–${msf(s.max)} ms`;
  return [
    [
      'ansible-playbook + validate by hand (orchard, 2 web nodes)',
      `${msf(a.byHand.median)} ms`,
      range(a.byHand),
      `${a.byHand.n} runs, ${a.tasks} tasks`,
    ],
    ['rig provision of the same (step + validate)', `${msf(a.provision.median)} ms`, range(a.provision), `ratio ${times(a.ratio)}`],
    ['  of which its step, as the node timed it', `${msf(a.steps.median)} ms`, range(a.steps), 'validate not included'],
    ['  per task, docker exec (rig inventory)', `${msf(a.perTaskDockerExec.median)} ms`, range(a.perTaskDockerExec), 'before'],
    ['  per task, nsenter (the step)', `${msf(a.perTaskNsenter.median)} ms`, range(a.perTaskNsenter), 'after'],
  ];
}

function lxdRows(l: LxdCost | undefined): string[][] {
  if (!l) return [];
  const range = (s: Stats) => `${msf(s.min)}–${msf(s.max)} ms`;
  return [
    [`lxc launch of ${l.nodes} instances at once, by hand`, `${msf(l.byHand.median)} ms`, range(l.byHand), `${l.byHand.n} runs, no NIC`],
    [`rig up, ${l.nodes} LXD nodes`, `${msf(l.rig.median)} ms`, range(l.rig), `ratio ${times(l.ratio)}`],
  ];
}

function clusterRows(c: ClusterSpread | undefined): string[][] {
  if (!c) return [];
  const range = (s: Stats) => `${msf(s.min)}–${msf(s.max)} ms`;
  return [
    [`rig up, ${c.nodes} LXD nodes on one member of 3`, `${msf(c.oneMember.median)} ms`, range(c.oneMember), `${c.oneMember.n} runs`],
    [`rig up, the same over 3 members`, `${msf(c.spread.median)} ms`, range(c.spread), `ratio ${times(c.ratio)} (members share 2 cores)`],
  ];
}

function reactionRows(r: Reactions | undefined): string[][] {
  const rows: string[][] = [];
  const range = (s: Stats) => `${msf(s.min)}–${msf(s.max)} ms`;
  const k = r?.kill;
  if (k) {
    const ttl = k.ttl === null ? '' : `, lease TTL ${k.ttl} s`;
    rows.push(["rig kill -> peer's reaction starts", `${msf(k.reaction.median)} ms`, range(k.reaction), `${k.reaction.n} kills`]);
    rows.push(['  rig kill returns', `${msf(k.killCall.median)} ms`, range(k.killCall), 'the node is dead']);
    rows.push(["  to the node's alive key gone", `${msf(k.lost.median)} ms`, range(k.lost), `revoked by rig kill${ttl}`]);
    rows.push(['  alive key gone -> reacting', `${msf(k.agent.median)} ms`, range(k.agent), "the peer's agent"]);
  }
  const c = r?.cost;
  if (c) {
    rows.push(['step by docker exec in the node', `${msf(c.byHand.median)} ms`, range(c.byHand), `${c.byHand.n} runs`]);
    rows.push(['the same step as a reaction (put -> ready)', `${msf(c.reaction.median)} ms`, range(c.reaction), `ratio ${times(c.ratio)}`]);
    rows.push(['  of which: put -> reacting', `${msf(c.start.median)} ms`, range(c.start), '']);
  }
  return rows;
}

export function printMicro(micro: Micro): void {
  console.log('\nmicro-benchmarks');
  console.log(table(['what', 'median / p50', 'range / p99', ''], microRows(micro)));
  if (micro.facts?.node) console.log(`node waiter: ${micro.facts.node.measured}`);
  if (micro.facts?.host) console.log(`host waiter: ${micro.facts.host.measured}`);
  if (micro.reactions)
    console.log("reactions: mill reacts to barn's stage and facts; stamped by an etcd watch of mill's stage on the host (rig's client)");
}

export function printTargets(list: Target[]): void {
  console.log('\ntargets (issues 6, 11, 13, 21 and 22)');
  console.log(
    table(
      ['target', 'measured', 'verdict', ''],
      list.map((t) => [t.target, t.value, t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED', t.note]),
    ),
  );
}
