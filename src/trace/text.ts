import { printable } from '../printable.js';
import type { Trace } from './timeline.js';

/** How much of a stage a line shows: a hostile or chatty node's 10 KB stage is cut, and says how long it was. */
const STAGE_SHOWN = 100;

/** The nodes of a trace, by name. */
export const nodesOf = (trace: Trace): string[] =>
  [...new Set(trace.events.flatMap((e) => (e.type === 'stage' ? [e.fqdn] : [])))].sort((a, b) => a.localeCompare(b));

/** A stage as a person may see it: escaped (printable), cut at `max`, saying its full length when cut. */
export function shortText(text: string, max: number, length?: number): string {
  const shown = printable(text);
  const full = length ?? text.length;
  return shown.length <= max && full === text.length ? shown : `${shown.slice(0, max)}… (${full} characters)`;
}

const seconds = (ms: number) => `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(3)}s`;
const lasted = (ms: number | null) => (ms === null ? '' : `${(ms / 1000).toFixed(3)}s`);

/**
 * A timeline for the terminal: per node, a line per stage (its time from the trace's start, how long it lasted,
 * the stage), then the drills, then the critical path of the last up.
 */
export function traceText(trace: Trace): string {
  if (trace.start === null) return `rig ${trace.name}: nothing recorded (no stage since rig trace began recording: see the README)\n`;
  const out = [
    `rig ${trace.name}: times from ${trace.startOf === 'last up' ? 'the start of its last up' : 'its first record'}, ${trace.start}`,
  ];
  const widths = trace.events.map((e) => (e.type === 'stage' ? lasted(e.end === null ? null : e.end - e.at).length : 0));
  const width = Math.max(6, ...widths);
  const line = (at: number, duration: number | null, text: string) =>
    `  ${seconds(at).padStart(9)}  ${lasted(duration).padStart(width)}  ${text}`;
  for (const node of nodesOf(trace)) {
    out.push('', printable(node));
    for (const e of trace.events) {
      if (e.type !== 'stage' || e.fqdn !== node) continue;
      const notes = (e.capped ? ' (its later stages were not recorded)' : '') + (e.late ? ' (seen late: no recorder ran)' : '');
      out.push(line(e.at, e.end === null ? null : e.end - e.at, shortText(e.stage, STAGE_SHOWN, e.length) + notes));
    }
  }
  const drills = trace.events.filter((e) => e.type === 'event');
  if (drills.length) {
    out.push('', 'events');
    for (const e of drills) {
      const who = [...(e.fqdn ? [e.fqdn] : []), ...(e.fqdns ?? [])].map(printable).join(' ');
      const detail = e.detail ? `: ${shortText(e.detail, STAGE_SHOWN)}` : '';
      out.push(`  ${seconds(e.at).padStart(9)}  ${printable(e.kind)}${who ? ` ${who}` : ''}${detail}`);
    }
  }
  const { ready, steps } = trace.criticalPath;
  out.push('');
  if (ready === null) out.push('critical path: none (not every node of the last up is ready)');
  else {
    out.push(`critical path of the last up: ready at ${seconds(ready)}`);
    for (const s of steps) out.push(line(s.from, s.to - s.from, `${printable(s.fqdn)}  ${shortText(s.stage, STAGE_SHOWN, s.length)}`));
  }
  return out.join('\n') + '\n';
}
