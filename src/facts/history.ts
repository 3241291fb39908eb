import { EtcdError, keyRange, type EtcdClient } from './etcd.js';

/**
 * What `rig trace` reads: every stage each node published, with the time the host saw it, kept by the host in
 * keys of its own. etcd keeps no times, and its history is compacted after a day (ETCD_STORE.historyHours), so the
 * host records each stage as it happens: `rig up` while it runs, then the rig's keeper for the rig's life. A node
 * may write only under /rig/<rig>/nodes/<fqdn>/: it can neither write nor erase these records. Key layout:
 *   /rig/<rig>/trace/up                       {"time"}: when the last up that made the rig began
 *   /rig/<rig>/trace/sync                     a recorder's mark, to know it has seen everything before it
 *   /rig/<rig>/trace/stages/<20-digit rev>    {"time","node","stage","length"?,"capped"?}: one stage, by its revision
 *   /rig/<rig>/events/<ms>-<kind>-<hex>       {"time","kind","node"?,"nodes"?,"detail"?}: a drill (the host's)
 */
const tracePrefix = (rig: string) => `/rig/${rig}/trace/`;
const stagesPrefix = (rig: string) => `${tracePrefix(rig)}stages/`;
const eventsPrefix = (rig: string) => `/rig/${rig}/events/`;
const nodesPrefix = (rig: string) => `/rig/${rig}/nodes/`;

/**
 * Bounds on what a node can make the host write (a node may rewrite its stage as often as its etcd limits let
 * it): the first STAGE_KEPT characters of a stage, and MAX_STAGES_PER_NODE stages per node, the last one marked
 * `capped`. At those bounds a 200-node rig's records stay under about 30 MB of etcd's 256 MiB.
 */
export const STAGE_KEPT = 512;
export const MAX_STAGES_PER_NODE = 200;

export interface StageRecord {
  revision: string; // etcd's revision of the stage's write: their order
  time: string; // ISO-8601, when the host saw it
  node: string;
  stage: string; // at most STAGE_KEPT characters
  length?: number; // the stage's own length, when it was longer
  capped?: boolean; // the node's last recorded stage: it published more than MAX_STAGES_PER_NODE
  late?: boolean; // published while no recorder ran, seen when one took over: `time` is when it was seen
}

export interface RecordedEvent {
  time: string;
  kind: string;
  node?: string;
  nodes?: string[];
  detail?: string;
}

export interface RigHistory {
  name: string;
  up?: string; // when the last up began
  stages: StageRecord[];
  events: RecordedEvent[];
}

const encode = (s: string) => Buffer.from(s).toString('base64');
const revisionKey = (rig: string, revision: string) => `${stagesPrefix(rig)}${revision.padStart(20, '0')}`;

/** Every key and value under a prefix, a page at a time (a big rig's records need not fit one answer). */
async function rangeAll(etcd: EtcdClient, prefix: string, page = 1000): Promise<Array<{ key: string; value: string }>> {
  const { range_end } = keyRange(prefix, true);
  const all: Array<{ key: string; value: string }> = [];
  let from = encode(prefix);
  for (;;) {
    const answer = await etcd.call<{ kvs?: Array<{ key: string; value?: string }>; more?: boolean }>('/v3/kv/range', {
      key: from,
      range_end,
      limit: page,
    });
    const kvs = (answer.kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key, 'base64').toString(),
      value: Buffer.from(kv.value ?? '', 'base64').toString(),
    }));
    all.push(...kvs);
    if (!answer.more || !kvs.length) return all;
    from = encode(`${kvs.at(-1)!.key}\0`); // the next key after the last one read
  }
}

const parse = (value: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // not JSON: the value is kept as text, with no fields
  }
};
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The rig's recorded history: its last up, its stages in revision order, its events in time order. */
export async function readHistory(etcd: EtcdClient, rig: string): Promise<RigHistory> {
  const [trace, events] = await Promise.all([rangeAll(etcd, tracePrefix(rig)), rangeAll(etcd, eventsPrefix(rig))]);
  const history: RigHistory = { name: rig, stages: [], events: [] };
  for (const { key, value } of trace) {
    const record = parse(value);
    if (!record || !str(record.time)) continue;
    if (key === `${tracePrefix(rig)}up`) history.up = str(record.time);
    else if (key.startsWith(stagesPrefix(rig)) && str(record.node) !== undefined && str(record.stage) !== undefined)
      history.stages.push({
        revision: String(BigInt(key.slice(stagesPrefix(rig).length))),
        time: str(record.time)!,
        node: str(record.node)!,
        stage: str(record.stage)!,
        ...(typeof record.length === 'number' ? { length: record.length } : {}),
        ...(record.capped === true ? { capped: true } : {}),
        ...(record.late === true ? { late: true } : {}),
      });
  }
  for (const { value } of events) {
    const event = parse(value);
    const [time, kind] = [str(event?.time), str(event?.kind)];
    if (!event || !time || !kind || Number.isNaN(Date.parse(time))) continue; // not the shared layout: not shown
    const nodes = Array.isArray(event.nodes) ? event.nodes.filter((n): n is string => typeof n === 'string') : undefined;
    history.events.push({
      time,
      kind,
      ...(str(event.node) !== undefined ? { node: str(event.node) } : {}),
      ...(nodes ? { nodes } : {}),
      ...(str(event.detail) !== undefined ? { detail: str(event.detail) } : {}),
    });
  }
  history.events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return history;
}

/** Say when an up that makes the rig began (the trace's zero, and where its critical path starts). */
export async function recordUp(etcd: EtcdClient, rig: string, startedAt: Date): Promise<void> {
  await etcd.put(`${tracePrefix(rig)}up`, JSON.stringify({ time: startedAt.toISOString() }));
}

/**
 * Record every stage a node writes from now on (or after `afterRevision`), with the time it is seen. Resolves once
 * the watch is made, so nothing published after is missed; returns a function that stops it and waits for the
 * records under way. Two recorders at once (an up and its keeper) write each record once: a record is put only
 * where there is none.
 */
export async function recordStages(
  etcd: EtcdClient,
  rig: string,
  { afterRevision, onGone }: { afterRevision?: string; onGone?: (err: Error) => void } = {},
): Promise<() => Promise<void>> {
  const counts = new Map<string, number>();
  let caughtUp = 0n; // stages written up to this revision were published before this recorder ran
  if (afterRevision !== undefined) {
    const [history, { revision }] = await Promise.all([readHistory(etcd, rig), etcd.range(stagesPrefix(rig))]);
    for (const s of history.stages) counts.set(s.node, (counts.get(s.node) ?? 0) + 1);
    caughtUp = BigInt(revision);
  }
  const writes = new Set<Promise<void>>();
  const record = (node: string, stage: string, revision: string) => {
    const count = (counts.get(node) ?? 0) + 1;
    counts.set(node, count);
    if (count > MAX_STAGES_PER_NODE) return;
    const value = JSON.stringify({
      time: new Date().toISOString(),
      node,
      stage: stage.slice(0, STAGE_KEPT),
      ...(stage.length > STAGE_KEPT ? { length: stage.length } : {}),
      ...(count === MAX_STAGES_PER_NODE ? { capped: true } : {}),
      ...(BigInt(revision) <= caughtUp ? { late: true } : {}),
    });
    const key = encode(revisionKey(rig, revision));
    const write = etcd
      .call('/v3/kv/txn', {
        compare: [{ key, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
        success: [{ request_put: { key, value: encode(value) } }],
      })
      .then(
        () => {},
        () => {}, // etcd gone (the rig going down): the record is lost, the rig is not
      );
    writes.add(write);
    void write.finally(() => writes.delete(write));
  };
  // The whole rig's keys, not only its nodes': the recorder's own sync mark (below) comes through the same watch.
  let seen = 0n;
  let synced: { revision: bigint; done: () => void } | undefined;
  const watch = (after?: string) =>
    etcd.watch(
      `/rig/${rig}/`,
      ({ key, value, type, modRevision }) => {
        const [node, kind, more] = key.startsWith(nodesPrefix(rig)) ? key.slice(nodesPrefix(rig).length).split('/') : [];
        if (type === 'put' && kind === 'stage' && more === undefined) record(node, value, modRevision);
        seen = BigInt(modRevision);
        if (synced && seen >= synced.revision) synced.done();
      },
      { prefix: true, afterRevision: after, onGone },
    );
  let stop: () => void;
  try {
    stop = await watch(afterRevision);
  } catch (err) {
    // History since then compacted away (a keeper that starts a day later): record from now on.
    if (!(afterRevision !== undefined && err instanceof EtcdError && /compacted/.test(err.message))) throw err;
    stop = await watch();
  }
  // Before it stops, the recorder has seen every write made until then: it puts a mark of its own and waits (a
  // bounded time) for the watch to bring it, so a stage published just before (the up's last `ready`) is recorded.
  const catchUp = async () => {
    const { header } = await etcd.call<{ header: { revision: string } }>('/v3/kv/put', {
      key: encode(`${tracePrefix(rig)}sync`),
      value: encode(new Date().toISOString()),
    });
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      synced = { revision: BigInt(header.revision), done: resolve };
      if (seen >= synced.revision) resolve();
      timer = setTimeout(resolve, CATCH_UP_MS);
    });
    clearTimeout(timer);
  };
  return async () => {
    await catchUp().catch(() => {}); // etcd gone: there is nothing more to see
    stop();
    await Promise.all([...writes]);
  };
}

/** How long a recorder that stops waits for its watch to bring what was written before (see recordStages). */
const CATCH_UP_MS = 5_000;

/** The last revision recorded, for a recorder that takes over (the keeper, after the up). */
export async function lastRecorded(etcd: EtcdClient, rig: string): Promise<string | undefined> {
  const answer = await etcd.call<{ kvs?: Array<{ key: string }> }>('/v3/kv/range', {
    ...keyRange(stagesPrefix(rig), true),
    limit: 1,
    sort_order: 'DESCEND',
    sort_target: 'KEY',
    keys_only: true,
  });
  const key = answer.kvs?.[0]?.key;
  return key === undefined ? undefined : String(BigInt(Buffer.from(key, 'base64').toString().slice(stagesPrefix(rig).length)));
}
