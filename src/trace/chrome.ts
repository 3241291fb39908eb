import { printable } from '../printable.js';
import type { CriticalPath, StageEvent, Trace } from './timeline.js';
import { nodesOf, shortText } from './text.js';

/**
 * The Trace Event format (what Perfetto and chrome://tracing open): one process for the rig, one track (thread)
 * per node named by its FQDN, a complete event ("X") for each stage that lasted, an instant ("i") for a stage with
 * nothing after it and for each drill (on the tracks of the nodes it names, across all tracks when it names
 * none). Times in microseconds from the trace's start. The critical path's stages have args.critical.
 */
export interface ChromeTrace {
  traceEvents: Array<Record<string, unknown>>;
  displayTimeUnit: 'ms';
  otherData: { rig: string; start: string | null };
}

const PID = 1;
const us = (ms: number) => Math.round(ms * 1000);
/** A name a viewer shows: no control characters, and not 10 KB long. */
const LABEL_LENGTH = 200;

export function chromeTrace(trace: Trace): ChromeTrace {
  const nodes = nodesOf(trace);
  const tid = new Map(nodes.map((node, i) => [node, i + 1]));
  const end = Math.max(0, ...trace.events.map((e) => (e.type === 'stage' ? (e.end ?? e.at) : e.at)));
  const stepsOf = new Map<string, CriticalPath['steps']>();
  for (const step of trace.criticalPath.steps) stepsOf.set(step.fqdn, [...(stepsOf.get(step.fqdn) ?? []), step]);
  const critical = (s: StageEvent) =>
    (stepsOf.get(s.fqdn) ?? []).some((step) => step.stage === s.stage && step.from >= s.at && step.to <= (s.end ?? Infinity));
  const traceEvents: Array<Record<string, unknown>> = [
    { ph: 'M', name: 'process_name', pid: PID, tid: 0, args: { name: `rig ${trace.name}` } },
    ...nodes.flatMap((node) => [
      { ph: 'M', name: 'thread_name', pid: PID, tid: tid.get(node), args: { name: printable(node) } },
      { ph: 'M', name: 'thread_sort_index', pid: PID, tid: tid.get(node), args: { sort_index: tid.get(node) } },
    ]),
  ];
  for (const e of trace.events) {
    if (e.type === 'stage') {
      const dur = (e.end ?? end) - e.at;
      const args = { kind: e.kind, ...(e.waitsFor ? { waitsFor: printable(e.waitsFor) } : {}), ...(critical(e) ? { critical: true } : {}) };
      const common = { name: shortText(e.stage, LABEL_LENGTH, e.length), cat: e.kind, pid: PID, tid: tid.get(e.fqdn), ts: us(e.at), args };
      traceEvents.push(dur > 0 ? { ...common, ph: 'X', dur: us(dur) } : { ...common, ph: 'i', s: 't' });
    } else {
      const named = [...(e.fqdn ? [e.fqdn] : []), ...(e.fqdns ?? [])].filter((n) => tid.has(n));
      const common = {
        name: printable(e.kind),
        cat: 'event',
        pid: PID,
        ts: us(e.at),
        args: e.detail ? { detail: printable(e.detail) } : {},
      };
      if (named.length) for (const node of new Set(named)) traceEvents.push({ ...common, ph: 'i', s: 't', tid: tid.get(node) });
      else traceEvents.push({ ...common, ph: 'i', s: 'g', tid: 0 });
    }
  }
  return { traceEvents, displayTimeUnit: 'ms', otherData: { rig: trace.name, start: trace.start } };
}
