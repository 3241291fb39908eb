import { describe, expect, it } from 'vitest';
import type { RigHistory, StageRecord } from '../../src/facts/history.js';
import { buildTrace } from '../../src/trace/timeline.js';
import { chromeTrace } from '../../src/trace/chrome.js';
import { traceText } from '../../src/trace/text.js';
import { schemaErrors } from '../schemas.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
let revision = 10;
const stage = (node: string, ms: number, value: string, extra: Partial<StageRecord> = {}): StageRecord => ({
  revision: String(revision++),
  time: at(ms),
  node,
  stage: value,
  ...extra,
});

const BARN = 'barn.village.test';
const MILL = 'mill.village.test';
const PEN = 'pen.village.test';

/**
 * A recorded up: barn provisions and publishes the fact mill waits for; pen is quick; mill is ready last. Then a
 * drill (barn killed) and a reaction of mill's.
 */
const history = (): RigHistory => ({
  name: 'village',
  up: at(0),
  stages: [
    stage(BARN, 100, 'created'),
    stage(MILL, 100, 'created'),
    stage(PEN, 100, 'created'),
    stage(BARN, 500, 'addressed'),
    stage(MILL, 520, 'addressed'),
    stage(PEN, 540, 'addressed'),
    stage(BARN, 600, 'facts'),
    stage(MILL, 620, 'facts'),
    stage(PEN, 640, 'facts'),
    stage(MILL, 650, `waiting for ${BARN} redis_run_id`),
    stage(BARN, 700, 'provisioning 1/1'),
    stage(PEN, 700, 'ready'),
    stage(BARN, 2700, 'ready'),
    stage(MILL, 2710, 'provisioning 1/1'),
    stage(MILL, 3900, 'ready'),
    stage(MILL, 9000, `reacting to ${BARN} (1/1)`),
    stage(MILL, 9500, 'ready'),
  ],
  events: [
    { time: at(8000), kind: 'kill', node: BARN },
    { time: at(8500), kind: 'partition', nodes: [BARN, PEN] },
    { time: at(8600), kind: 'heal' },
  ],
});

describe('trace timeline', () => {
  it("lists each node's stages in time order with their ends, times relative to the up's start", () => {
    const trace = buildTrace(history());
    expect(trace.name).toBe('village');
    expect(trace.start).toBe(at(0));
    expect(trace.startOf).toBe('last up');
    const mill = trace.events.filter((e) => e.type === 'stage' && e.fqdn === MILL);
    expect(mill.map((e) => [e.stage, e.at, e.end])).toEqual([
      ['created', 100, 520],
      ['addressed', 520, 620],
      ['facts', 620, 650],
      [`waiting for ${BARN} redis_run_id`, 650, 2710],
      ['provisioning 1/1', 2710, 3900],
      ['ready', 3900, 9000],
      [`reacting to ${BARN} (1/1)`, 9000, 9500],
      ['ready', 9500, null],
    ]);
    expect(mill.map((e) => e.kind)).toEqual(['created', 'addressed', 'facts', 'waiting', 'provisioning', 'ready', 'reacting', 'ready']);
    expect(mill[3]).toMatchObject({ waitsFor: BARN, fact: 'redis_run_id' });
    expect(mill[6]).toMatchObject({ kind: 'reacting', reactsTo: BARN });
    expect(trace.events.map((e) => e.at)).toEqual([...trace.events.map((e) => e.at)].sort((a, b) => a - b));
  });

  it('keeps the drills as events, with or without nodes', () => {
    const events = buildTrace(history()).events.filter((e) => e.type === 'event');
    expect(events).toEqual([
      { type: 'event', time: at(8000), at: 8000, kind: 'kill', fqdn: BARN },
      { type: 'event', time: at(8500), at: 8500, kind: 'partition', fqdns: [BARN, PEN] },
      { type: 'event', time: at(8600), at: 8600, kind: 'heal' },
    ]);
  });

  it('finds the critical path of the last up: the waits that decided when the rig was ready', () => {
    const { criticalPath } = buildTrace(history());
    expect(criticalPath.ready).toBe(3900);
    expect(criticalPath.steps).toEqual([
      { fqdn: BARN, stage: 'created', from: 100, to: 500 },
      { fqdn: BARN, stage: 'addressed', from: 500, to: 600 },
      { fqdn: BARN, stage: 'facts', from: 600, to: 700 },
      { fqdn: BARN, stage: 'provisioning 1/1', from: 700, to: 2700 },
      { fqdn: BARN, stage: 'ready', from: 2700, to: 2710 },
      { fqdn: MILL, stage: `waiting for ${BARN} redis_run_id`, from: 2710, to: 2710 },
      { fqdn: MILL, stage: 'provisioning 1/1', from: 2710, to: 3900 },
    ]);
  });

  it('follows a chain of waits across nodes and stops at a wait on a node it never heard of', () => {
    revision = 10;
    const chained: RigHistory = {
      name: 'chain',
      up: at(0),
      stages: [
        stage('a.t', 0, 'created'),
        stage('b.t', 0, 'created'),
        stage('c.t', 0, 'created'),
        stage('a.t', 10, 'waiting for ghost.t'),
        stage('a.t', 50, 'ready'),
        stage('b.t', 10, 'waiting for a.t'),
        stage('b.t', 60, 'ready'),
        stage('c.t', 10, 'waiting for b.t'),
        stage('c.t', 70, 'ready'),
      ],
      events: [],
    };
    const path = buildTrace(chained).criticalPath;
    expect(path.ready).toBe(70);
    expect(path.steps.map((s) => `${s.fqdn}:${s.stage}:${s.from}-${s.to}`)).toEqual([
      'a.t:waiting for ghost.t:10-50',
      'a.t:ready:50-60',
      'b.t:waiting for a.t:60-60',
      'b.t:ready:60-70',
      'c.t:waiting for b.t:70-70',
    ]);
  });

  it('ignores what came before the last up in the critical path, and has none while no node is ready', () => {
    const before = history();
    before.up = at(5000); // an up after everything above: nothing of it is ready yet
    expect(buildTrace(before).criticalPath).toEqual({ ready: null, steps: [] });
    expect(buildTrace({ name: 'empty', stages: [], events: [] })).toMatchObject({ events: [], criticalPath: { ready: null, steps: [] } });
  });

  it('never loops on waits that point at each other', () => {
    const loop: RigHistory = {
      name: 'loop',
      stages: [
        stage('a.t', 0, 'waiting for b.t'),
        stage('b.t', 0, 'waiting for a.t'),
        stage('a.t', 10, 'ready'),
        stage('b.t', 10, 'ready'),
      ],
      events: [],
    };
    expect(buildTrace(loop).criticalPath.steps.length).toBeLessThan(10);
    expect(buildTrace(loop)).toMatchObject({ start: at(0), startOf: 'first record' });
  });
});

describe('trace formats', () => {
  it('json: holds to its JSON Schema (schema/trace.schema.json), a stage cut short, capped or late too', () => {
    const h = history();
    h.stages.push(stage(PEN, 9_000, 'x'.repeat(512), { length: 10_240, late: true, capped: true }));
    expect(schemaErrors('trace', JSON.parse(JSON.stringify(buildTrace(h))))).toEqual([]);
    expect(schemaErrors('trace', JSON.parse(JSON.stringify(buildTrace({ name: 'empty', stages: [], events: [] }))))).toEqual([]);
  });

  it('chrome: a Trace Event object, one named track per node, complete events for stages, instants for drills', () => {
    const chrome = chromeTrace(buildTrace(history()));
    const parsed = JSON.parse(JSON.stringify(chrome)) as { traceEvents: Array<Record<string, unknown>> };
    for (const e of parsed.traceEvents) {
      expect(e).toHaveProperty('ph');
      expect(e).toHaveProperty('pid');
      expect(e).toHaveProperty('tid');
      if (e.ph !== 'M') expect(typeof e.ts).toBe('number');
    }
    const threads = parsed.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
    expect(threads.map((t) => (t.args as { name: string }).name).sort()).toEqual([BARN, MILL, PEN]);
    const tid = (node: string) => threads.find((t) => (t.args as { name: string }).name === node)!.tid;
    const millSpans = parsed.traceEvents.filter((e) => e.tid === tid(MILL) && e.ph === 'X');
    expect(millSpans[3]).toMatchObject({ name: `waiting for ${BARN} redis_run_id`, ts: 650_000, dur: 2_060_000 });
    const kill = parsed.traceEvents.find((e) => e.ph === 'i' && e.name === 'kill');
    expect(kill).toMatchObject({ tid: tid(BARN), ts: 8_000_000, s: 't' });
    const heal = parsed.traceEvents.find((e) => e.ph === 'i' && e.name === 'heal');
    expect(heal).toMatchObject({ s: 'g' });
    expect(parsed.traceEvents.filter((e) => e.ph === 'i' && e.name === 'partition').map((e) => e.tid)).toEqual([tid(BARN), tid(PEN)]);
    // The critical path's stages are marked so a viewer can pick them out.
    expect(parsed.traceEvents.filter((e) => (e.args as { critical?: boolean } | undefined)?.critical).length).toBeGreaterThan(0);
  });

  it('text: a header per node, a line per stage with its relative time and length, hostile text escaped and cut', () => {
    const h = history();
    h.stages.push(stage(PEN, 10_000, `evil\x1b[2J\u202e${'x'.repeat(600)}`, { length: 10_240 }));
    const text = traceText(buildTrace(h));
    expect(text).not.toMatch(/[\x1b\u202e]/);
    expect(text).toContain(String.raw`evil\x1b[2J\u202e`);
    const lines = text.split('\n');
    const mill = lines.indexOf(MILL);
    expect(lines.slice(mill + 1, mill + 9).every((l) => /^\s+\+\d+\.\d{3}s\s/.test(l))).toBe(true);
    expect(lines[mill + 4]).toMatch(/\+0\.650s\s+2\.060s\s+waiting for barn\.village\.test redis_run_id/);
    expect(lines.find((l) => l.includes('evil'))!.length).toBeLessThan(200);
    expect(text).toMatch(/10240 characters/);
    expect(text).toMatch(/\+8\.000s\s+kill barn\.village\.test/);
    expect(text).toMatch(/critical path/);
  });

  it('says which stages were seen late (no recorder ran) and where a node stopped being recorded', () => {
    const h = history();
    h.stages.push(stage(PEN, 9_000, 'reacting to x (1/1)', { late: true }), stage(PEN, 9_100, 'flood 1', { capped: true }));
    const text = traceText(buildTrace(h));
    expect(text).toMatch(/reacting to x \(1\/1\) \(seen late: no recorder ran\)/);
    expect(text).toMatch(/flood 1 \(its later stages were not recorded\)/);
    expect(buildTrace(h).events.filter((e) => e.type === 'stage' && e.late)).toHaveLength(1);
  });

  it('escapes node names a hostile record might carry', () => {
    const h: RigHistory = {
      name: 'x',
      stages: [stage('a\x1b[2J.t', 0, 'ready')],
      events: [{ time: at(1), kind: 'stop\x1b', node: 'b\x07' }],
    };
    expect(traceText(buildTrace(h))).not.toMatch(/[\x1b\x07]/);
  });
});
