import type { RigHistory, StageRecord } from '../facts/history.js';

/**
 * A rig's trace (what `rig trace --format json` prints): every stage and event with its time, `at` in ms from the
 * trace's start (the last up's start, else the first record), and the critical path of the last up.
 */
export interface Trace {
  name: string;
  start: string | null; // ISO-8601; null when nothing was recorded
  startOf: 'last up' | 'first record'; // what `start` is: the last up's start, or (no up recorded) the first record's time
  events: TraceEvent[];
  criticalPath: CriticalPath;
}

export type TraceEvent = StageEvent | HostEvent;

export type StageKind =
  | 'created'
  | 'addressed'
  | 'facts'
  | 'booting'
  | 'waiting'
  | 'provisioning'
  | 'idempotence'
  | 'reacting'
  | 'ready'
  | 'failed'
  | 'restarted'
  | 'other';

export interface StageEvent {
  type: 'stage';
  time: string;
  at: number;
  fqdn: string; // the node's
  kind: StageKind;
  stage: string; // as the node published it (the recorder keeps its first STAGE_KEPT characters)
  end: number | null; // when the node's next stage came; null: it is the node's stage now
  waitsFor?: string; // a wait's node (`waiting for NODE [FACT]`)
  fact?: string; // and its fact, if it waits for one
  reactsTo?: string; // what a reaction reacts to (`reacting to LABEL (i/n)`: a peer's fact or stage, as the rig file says)
  length?: number; // the stage's own length, when it was longer than what was kept
  capped?: boolean; // the node published more stages than are recorded: this is the last one kept
  late?: boolean; // published while no recorder ran (see facts/history.ts): its time is when it was seen, later
}

/** A drill or other host action (the shared events layout). */
export interface HostEvent {
  type: 'event';
  time: string;
  at: number;
  kind: string;
  fqdn?: string; // the node it was done to
  fqdns?: string[]; // the nodes, when several (a partition)
  detail?: string;
}

/** The chain of stages that decided when the last up was ready, in time order; each clipped to its part in it. */
export interface CriticalPath {
  ready: number | null; // when the up's last node was ready; null: not every node of it is (yet)
  steps: Array<{ fqdn: string; stage: string; from: number; to: number; length?: number }>;
}

const EXACT: Record<string, StageKind> = {
  created: 'created',
  addressed: 'addressed',
  facts: 'facts',
  booting: 'booting',
  ready: 'ready',
  restarted: 'restarted',
};
const PREFIXES: Array<[string, StageKind]> = [
  ['waiting for ', 'waiting'],
  ['provisioning ', 'provisioning'],
  ['checking idempotence', 'idempotence'],
  ['reacting to ', 'reacting'],
  ['failed', 'failed'],
];

export function stageKind(stage: string): StageKind {
  return EXACT[stage] ?? PREFIXES.find(([prefix]) => stage.startsWith(prefix))?.[1] ?? 'other';
}

/** What the agent publishes while it waits: `waiting for NODE` (its ready) or `waiting for NODE FACT`. */
const WAIT = /^waiting for (\S+)(?: (\S+))?$/;
/** What the agent publishes while it runs a reaction's steps (see rig-react). */
const REACTION = /^reacting to (\S+) \(\d+\/\d+\)$/;

export function buildTrace(history: RigHistory): Trace {
  const stages = [...history.stages].sort((a, b) => compareRevisions(a, b));
  const times = [...stages.map((s) => Date.parse(s.time)), ...history.events.map((e) => Date.parse(e.time))];
  const startMs = history.up ? Date.parse(history.up) : times.length ? Math.min(...times) : undefined;
  const startOf = history.up ? 'last up' : 'first record';
  if (startMs === undefined) return { name: history.name, start: null, startOf, events: [], criticalPath: { ready: null, steps: [] } };
  const since = (time: string) => Date.parse(time) - startMs;

  const byNode = new Map<string, StageEvent[]>();
  for (const record of stages) {
    const event = stageEvent(record, since(record.time));
    const own = byNode.get(record.node) ?? [];
    const previous = own.at(-1);
    if (previous) previous.end = Math.max(event.at, previous.at);
    event.at = Math.max(event.at, previous?.at ?? event.at); // revision order wins over a clock seen late
    own.push(event);
    byNode.set(record.node, own);
  }
  const events: TraceEvent[] = [
    ...[...byNode.values()].flat(),
    ...history.events.map(({ node, nodes, ...e }): HostEvent => ({
      type: 'event',
      ...e,
      at: since(e.time),
      ...(node !== undefined ? { fqdn: node } : {}),
      ...(nodes !== undefined ? { fqdns: nodes } : {}),
    })),
  ].sort((a, b) => a.at - b.at);
  const upStart = history.up ? 0 : -Infinity;
  return { name: history.name, start: new Date(startMs).toISOString(), startOf, events, criticalPath: criticalPath(byNode, upStart) };
}

const compareRevisions = (a: StageRecord, b: StageRecord) => {
  const [x, y] = [BigInt(a.revision), BigInt(b.revision)];
  return x < y ? -1 : x > y ? 1 : 0;
};

function stageEvent(record: StageRecord, at: number): StageEvent {
  const wait = WAIT.exec(record.stage);
  const reaction = REACTION.exec(record.stage);
  return {
    type: 'stage',
    time: record.time,
    at,
    fqdn: record.node,
    kind: stageKind(record.stage),
    stage: record.stage,
    end: null,
    ...(wait ? { waitsFor: wait[1], ...(wait[2] ? { fact: wait[2] } : {}) } : {}),
    ...(reaction ? { reactsTo: reaction[1] } : {}),
    ...(record.length !== undefined ? { length: record.length } : {}),
    ...(record.capped ? { capped: true } : {}),
    ...(record.late ? { late: true } : {}),
  };
}

/**
 * Walk back from the up's last node to be ready: its stages since the last wait that ended before then, that
 * wait, then the node it waited for, from the moment the wait ended, and so on, until a node that waited for
 * nobody (its stages since the up began) or a wait that cannot be followed (a node not in the trace, or one
 * already on the path: a cycle). The nodes of the last up are those it created; every node when no up is known.
 */
function criticalPath(byNode: Map<string, StageEvent[]>, upStart: number): CriticalPath {
  const none = { ready: null, steps: [] };
  const ofUp = (node: string) => (byNode.get(node) ?? []).filter((s) => s.at >= upStart);
  const upNodes = [...byNode.keys()].filter((node) => (upStart === -Infinity ? true : ofUp(node).some((s) => s.kind === 'created')));
  if (!upNodes.length) return none;
  const readyAt = upNodes.map((node) => ({ node, at: ofUp(node).find((s) => s.kind === 'ready')?.at }));
  if (readyAt.some((r) => r.at === undefined)) return none;
  const last = readyAt.reduce((a, b) => (b.at! > a.at! ? b : a));
  const ready = last.at!;

  const steps: CriticalPath['steps'] = [];
  const visited = new Set<string>();
  let node: string | undefined = last.node;
  let until = ready;
  while (node && !visited.has(node)) {
    visited.add(node);
    const own: StageEvent[] = ofUp(node).filter((s) => s.at < until);
    const wait = [...own].reverse().find((s) => s.kind === 'waiting' && s.end !== null && s.end <= until);
    const next: string | undefined = wait?.waitsFor;
    const followed = next !== undefined && byNode.has(next) && !visited.has(next);
    const from = wait ? (followed ? wait.end! : wait.at) : -Infinity;
    const part = own.filter((s) => s.at >= from || s === wait);
    steps.unshift(
      ...part.map((s) => ({
        fqdn: s.fqdn,
        stage: s.stage,
        from: Math.max(s.at, from),
        to: Math.min(s.end ?? until, until),
        ...(s.length !== undefined ? { length: s.length } : {}),
      })),
    );
    node = followed ? next : undefined;
    until = wait?.end ?? until;
  }
  return { ready, steps };
}
