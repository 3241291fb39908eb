import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rig, useRig } from './helpers.js';

/** A stage no terminal should see raw: a screen clear, a window title, a bidi override, then 10 KB of text. */
const HOSTILE_HEAD = 'evil\x1b[2J\x1b]0;pwned\x07\u202e';

/**
 * Three nodes: mill needs barn's fact (published in barn's step, after a pause, so the wait is seen), pen needs
 * nothing and publishes a hostile stage in its step before it goes on to ready.
 */
const rigFile = (name: string) => `name: ${name}
domain: village.test
network: { internal: true }
configs: []
nodes:
  barn.village.test:
    provision:
      - shell: sleep 1; rig-fact set redis_run_id abc123
  mill.village.test:
    needs: [barn.redis_run_id]
    provision:
      - shell: echo "barn runs $(rig-fact get barn redis_run_id)"
  pen.village.test:
    provision:
      - shell: |
          set -- --library; . /.rig/bin/rig-fact
          stage "$(printf 'evil\\033[2J\\033]0;pwned\\007\\342\\200\\256')$(head -c 10240 /dev/zero | tr '\\0' x)"
`;

interface TraceEvent {
  time: string;
  at: number;
  node?: string;
  type: 'stage' | 'event';
  kind: string;
  stage?: string;
  end?: number | null;
  waitsFor?: string;
}
interface TraceJson {
  name: string;
  start: string;
  events: TraceEvent[];
  criticalPath: { ready: number | null; steps: Array<{ node: string; stage: string; from: number; to: number }> };
}

const BARN = 'barn.village.test';
const MILL = 'mill.village.test';
const PEN = 'pen.village.test';

describe('rig trace', () => {
  const r = useRig('trace', rigFile);

  it("shows each node's stages in order with times, mill's wait on barn, and a critical path through barn", async () => {
    const out = await rig(['trace', '--name', r.name, '--format', 'json']);
    expect(out.exitCode, out.all).toBe(0);
    const trace = JSON.parse(out.stdout) as TraceJson;
    expect(trace.name).toBe(r.name);
    expect(Number.isNaN(Date.parse(trace.start))).toBe(false);
    const stagesOf = (node: string) => trace.events.filter((e) => e.type === 'stage' && e.node === node);
    for (const node of [BARN, MILL, PEN]) {
      const stages = stagesOf(node);
      expect(stages.map((s) => s.stage).slice(0, 3), node).toEqual(['created', 'addressed', 'facts']);
      expect(stages.at(-1)?.stage, node).toBe('ready');
      const times = stages.map((s) => s.at);
      expect(times, node).toEqual([...times].sort((a, b) => a - b));
      for (const s of stages) expect(Number.isNaN(Date.parse(s.time))).toBe(false);
    }
    expect(stagesOf(BARN).map((s) => s.stage)).toContain('provisioning 1/1');
    const wait = stagesOf(MILL).find((s) => s.kind === 'waiting');
    expect(wait?.stage).toBe(`waiting for ${BARN} redis_run_id`);
    expect(wait?.waitsFor).toBe(BARN);
    // The wait ended after barn's step began: barn's fact is what let mill go.
    const barnStep = stagesOf(BARN).find((s) => s.stage === 'provisioning 1/1')!;
    expect(wait!.end!).toBeGreaterThanOrEqual(barnStep.at);

    const path = trace.criticalPath;
    expect(path.ready).toBe(Math.max(...[BARN, MILL, PEN].map((n) => stagesOf(n).at(-1)!.at)));
    expect(path.steps.map((s) => s.node)).toContain(BARN);
    expect(path.steps.at(-1)?.node).toBe(MILL);
    expect(path.steps.at(-1)?.to).toBe(path.ready);
  });

  it('writes the Trace Event format with one track per node, to a file with -o', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rig-trace-'));
    try {
      const file = join(dir, 'trace.json');
      const out = await rig(['trace', '--name', r.name, '--format', 'chrome', '-o', file]);
      expect(out.exitCode, out.all).toBe(0);
      const chrome = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: Array<Record<string, unknown>> };
      expect(Array.isArray(chrome.traceEvents)).toBe(true);
      for (const e of chrome.traceEvents) {
        expect(typeof e.ph, JSON.stringify(e)).toBe('string');
        expect(typeof e.pid, JSON.stringify(e)).toBe('number');
        expect(typeof e.tid, JSON.stringify(e)).toBe('number');
        if (e.ph !== 'M') expect(typeof e.ts, JSON.stringify(e)).toBe('number');
      }
      const threads = chrome.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
      const names = threads.map((t) => (t.args as { name: string }).name).sort();
      expect(names).toEqual([BARN, MILL, PEN]);
      expect(new Set(threads.map((t) => t.tid)).size).toBe(3);
      // Every node's stages are complete events on its own track.
      for (const t of threads) {
        const spans = chrome.traceEvents.filter((e) => e.tid === t.tid && (e.ph === 'X' || e.ph === 'i'));
        expect(spans.map((e) => e.name)).toContain('created');
        for (const s of spans.filter((e) => e.ph === 'X')) expect(typeof s.dur).toBe('number');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows a line per stage in text, a hostile stage escaped and cut short', async () => {
    const out = await rig(['trace', '--name', r.name]);
    expect(out.exitCode, out.all).toBe(0);
    const json = JSON.parse((await rig(['trace', '--name', r.name, '--format', 'json'])).stdout) as TraceJson;
    const lines = out.stdout.split('\n');
    for (const node of [BARN, MILL, PEN]) {
      const header = lines.indexOf(node);
      expect(header, out.stdout).toBeGreaterThanOrEqual(0);
      const stages = json.events.filter((e) => e.type === 'stage' && e.node === node);
      const block = lines.slice(header + 1, header + 1 + stages.length);
      expect(block.map((l) => /^\s+\+\d+\.\d{3}s\s/.test(l))).toEqual(stages.map(() => true));
      expect(block[0]).toContain('created');
      expect(block.at(-1)).toContain('ready');
    }
    expect(out.stdout).toContain(`waiting for ${BARN} redis_run_id`);
    expect(out.stdout).not.toMatch(/[\x1b\x07\u202e]/);
    expect(out.stdout).toContain(String.raw`evil\x1b[2J\x1b]0;pwned\x07\u202e`);
    const hostile = lines.find((l) => l.includes('evil'))!;
    expect(hostile.length).toBeLessThan(400);
    expect(out.stdout).toMatch(/critical path/);
    // JSON keeps what was recorded exactly (up to the recorder's bound), and says the stage was longer.
    const kept = json.events.find((e) => e.node === PEN && e.stage?.startsWith('evil')) as TraceEvent & { length?: number };
    expect(kept.stage!.startsWith(HOSTILE_HEAD)).toBe(true);
    expect(kept.length).toBeGreaterThan(10_000);
  });

  it('says there is no such rig, exit 2', async () => {
    const out = await rig(['trace', '--name', `${r.name}-nope`]);
    expect(out.exitCode, out.all).toBe(2);
    expect(out.stderr).toMatch(/No rig named .*-nope is up/);
  });
});
