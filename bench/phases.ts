// Where the time of one `rig up` went: its --json progress events, read with the wall clock around the child and
// the trace of what Docker and dnsmasq saw (trace.ts). Pure: no engine needed, so unit tests cover it.
import { median, type Maybe } from './util.js';

/** One line of `rig up --json`'s progress on stderr that belongs to a step. */
export interface StepEvent {
  time: string;
  step: string;
  status?: string;
  output?: string;
  error?: string;
}

/**
 * The step events among the lines of `rig up --json`'s stderr. Other lines are left out: notes and warnings
 * (`{"time", "level", "message", ...}`, no step), and whatever is not a JSON object.
 */
export function stepEvents(stderr: string): StepEvent[] {
  const events: StepEvent[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      continue;
    }
    const e = event as Partial<StepEvent> | null;
    if (e && typeof e.step === 'string' && typeof e.time === 'string') events.push(e as StepEvent);
  }
  return events;
}

/** A container's create and start events (ms since the epoch), by node name or sidecar role. */
export type ContainerTimes = Partial<Record<'create' | 'start', number>>;
/** A node's DHCP exchange in dnsmasq's log: first discover, first ack, number of discovers, host name. */
export interface Lease {
  discovers: number;
  discover?: number;
  ack?: number;
  host?: string;
}
export interface Trace {
  containers: Record<string, ContainerTimes>;
  /** by host name */
  dhcp: Record<string, Lease>;
}

export interface NodePhases {
  node: string;
  createdSeenAt: Maybe;
  containerCreatedAt: Maybe;
  containerStartedAt: Maybe;
  discoverAt: Maybe;
  ackAt: Maybe;
  readyAt: Maybe;
  discovers: Maybe;
  create: Maybe;
  start: Maybe;
  attach: Maybe;
  dhcp: Maybe;
  addressed: Maybe;
  facts: Maybe;
  ready: Maybe;
}

export const NODE_PHASES = ['create', 'start', 'attach', 'dhcp', 'addressed', 'facts', 'ready'] as const;

export interface Phases {
  builtImages: boolean;
  cliStart: Maybe;
  check: Maybe;
  images: Maybe;
  network: Maybe;
  sidecars: Maybe;
  sidecarsStarted: Maybe;
  sidecarsReadyAt: Maybe;
  nodes: Maybe;
  exit: Maybe;
  /** <phase>Median and <phase>Max over the nodes, for each of NODE_PHASES */
  node: Record<string, Maybe>;
  lastCreatedAt: Maybe;
  lastStartedAt: Maybe;
  lastDiscoverAt: Maybe;
  lastReadyAt: Maybe;
  dhcpRetries: number;
  perNode: NodePhases[];
}

const diff = (a: Maybe | undefined, b: Maybe | undefined): Maybe =>
  a === null || a === undefined || b === null || b === undefined ? null : a - b;
const maxOf = (v: number[]): Maybe => (v.length ? Math.max(...v) : null);
const at = (e: StepEvent | undefined): Maybe => (e ? Date.parse(e.time) : null);

// Two layouts of rig's steps: sidecars, then "Start N nodes"; or "Start dnsmasq, etcd and N nodes" holding a
// "dnsmasq and etcd" step next to the node steps (nodes start while the sidecars do).
const NODES = /^Start (dnsmasq, etcd and )?\d+ nodes?$/;

/** The steps of one `rig up`: when each started and ended. */
function stepClock(events: StepEvent[]) {
  const when = (title: string | RegExp, status: string): Maybe =>
    at(events.find((x) => (typeof title === 'string' ? x.step === title : title.test(x.step)) && x.status === status));
  const span = (title: string): Maybe => diff(when(title, 'done'), when(title, 'started'));
  const sidecars = events.some((e) => e.step === 'dnsmasq and etcd') ? 'dnsmasq and etcd' : 'Start dnsmasq and etcd';
  const stepTitles = new Set(['Check the rig', 'Build images', 'Create the rig network', 'Link live node configs', sidecars]);
  const nodeTitles = [...new Set(events.map((e) => e.step).filter((s) => !stepTitles.has(s) && !NODES.test(s)))];
  return { when, span, sidecars, nodeTitles };
}

/**
 * One node, from the start of the nodes step: its container's create and start events, its first DHCP discover
 * (the veth is attached and the agent runs), the DHCP ack, and the stages it published (addressed, facts, ready)
 * as rig's watch saw them.
 */
function nodePhases(node: string, events: StepEvent[], trace: Trace | null, nodesStart: Maybe): NodePhases {
  const mine = events.filter((e) => e.step === node);
  const stage = (name: string): Maybe => at(mine.find((e) => e.output === name));
  const docker = trace?.containers[node] ?? {};
  const lease: Partial<Lease> = trace?.dhcp[node.split('.')[0]] ?? {};
  const created = stage('created'); // the host's `created` put, as its watch saw it
  return {
    node,
    createdSeenAt: diff(created, nodesStart),
    containerCreatedAt: diff(docker.create, nodesStart),
    containerStartedAt: diff(docker.start, nodesStart),
    discoverAt: diff(lease.discover, nodesStart),
    ackAt: diff(lease.ack, nodesStart),
    readyAt: diff(stage('ready'), nodesStart),
    discovers: lease.discovers ?? null,
    create: diff(docker.create, nodesStart), // subscribe, `created` put, then Docker's create
    start: diff(docker.start, docker.create),
    attach: diff(lease.discover, docker.start), // inspect, veth (ip -batch), agent sees eth0, udhcpc starts
    dhcp: diff(lease.ack, lease.discover),
    addressed: diff(stage('addressed'), lease.ack), // lease script, wget put, watch back to rig
    facts: diff(stage('facts'), stage('addressed')),
    ready: diff(stage('ready'), stage('facts')),
  };
}

/**
 * Where the time of one `rig up` went, from its --json progress events (millisecond timestamps), the wall clock
 * around the child process, and the trace. Steps: CLI start (node, imports, rig file, engine ping, reaper)
 * until the first step, each step, and the end (status, marking the rig kept, exit). Per node: nodePhases.
 */
export function rigPhases(events: StepEvent[], trace: Trace | null, wallStart: number, wallEnd: number): Phases {
  const { when, span, sidecars, nodeTitles } = stepClock(events);
  const nodesStart = when(NODES, 'started');
  const nodesDone = when(NODES, 'done');
  const builtImages = events.some((e) => e.step === 'Build images' && e.status === 'started');
  const perNode = nodeTitles.map((node) => nodePhases(node, events, trace, nodesStart));
  const across = (key: keyof NodePhases, fn: (v: number[]) => Maybe): Maybe =>
    fn(perNode.map((p) => p[key]).filter((x): x is number => typeof x === 'number'));
  return {
    builtImages,
    cliStart: diff(at(events[0]), wallStart),
    check: span('Check the rig'),
    images: builtImages ? span('Build images') : 0,
    network: span('Create the rig network'),
    sidecars: span(sidecars),
    sidecarsStarted: diff(trace?.containers.sidecar?.start, when(sidecars, 'started')),
    sidecarsReadyAt: diff(when(sidecars, 'done'), nodesStart), // from the start of the nodes step (< 0: before it)
    nodes: diff(nodesDone, nodesStart),
    exit: diff(wallEnd, nodesDone),
    node: Object.fromEntries(
      NODE_PHASES.flatMap((k) => [
        [`${k}Median`, across(k, median)],
        [`${k}Max`, across(k, maxOf)],
      ]),
    ),
    lastCreatedAt: across('containerCreatedAt', maxOf),
    lastStartedAt: across('containerStartedAt', maxOf),
    lastDiscoverAt: across('discoverAt', maxOf),
    lastReadyAt: across('readyAt', maxOf),
    dhcpRetries: perNode.filter((p) => (p.discovers ?? 0) > 1).length,
    perNode,
  };
}
