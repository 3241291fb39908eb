import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, eventually, rig, useRig } from './helpers.js';
import { MAX_STAGES_PER_NODE } from '../../src/facts/history.js';
import { FactStore } from '../../src/facts/store.js';
import { ETCD_SOCKET } from '../../src/plan/sidecar.js';

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
  fqdn?: string;
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
  criticalPath: { ready: number | null; steps: Array<{ fqdn: string; stage: string; from: number; to: number }> };
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
    const stagesOf = (node: string) => trace.events.filter((e) => e.type === 'stage' && e.fqdn === node);
    for (const node of [BARN, MILL, PEN]) {
      const stages = stagesOf(node);
      expect(stages.map((s) => s.stage).slice(0, 3), node).toEqual(['created', 'addressed', 'facts']);
      expect(stages.at(-1)?.stage, node).toBe('ready');
      const times = stages.map((s) => s.at);
      expect(times, node).toEqual([...times].sort((a, b) => a - b));
      for (const s of stages) expect(Number.isNaN(Date.parse(s.time))).toBe(false);
      // The up recorded every stage of its own as it came (none seen late by the keeper that took over).
      expect(
        stages.filter((s) => (s as { late?: boolean }).late),
        node,
      ).toEqual([]);
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
    expect(path.steps.map((s) => s.fqdn)).toContain(BARN);
    expect(path.steps.at(-1)?.fqdn).toBe(MILL);
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
      const stages = json.events.filter((e) => e.type === 'stage' && e.fqdn === node);
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
    const kept = json.events.find((e) => e.fqdn === PEN && e.stage?.startsWith('evil')) as TraceEvent & { length?: number };
    expect(kept.stage!.startsWith(HOSTILE_HEAD)).toBe(true);
    expect(kept.length).toBeGreaterThan(10_000);
  });

  it("keeps recording after the up (the rig's keeper): a provision's stages come in, the critical path stays the up's", async () => {
    const before = JSON.parse((await rig(['trace', '--name', r.name, '--format', 'json'])).stdout) as TraceJson;
    const provision = await rig(['provision', 'mill', '--name', r.name]);
    expect(provision.exitCode, provision.all).toBe(0);
    const mill = (t: TraceJson) => t.events.filter((e) => e.type === 'stage' && e.fqdn === MILL);
    // The keeper records what it sees as it sees it, beside the provision that waits for the same stages.
    let after = before;
    const recorded = await eventually(async () => {
      after = JSON.parse((await rig(['trace', '--name', r.name, '--format', 'json'])).stdout) as TraceJson;
      return mill(after).length >= mill(before).length + 2;
    }, 10_000);
    expect(recorded, JSON.stringify(mill(after))).toBe(true);
    const added = mill(after).slice(mill(before).length);
    expect(added.map((e) => e.stage)).toEqual(['provisioning 1/1', 'ready']);
    expect(added[0].at).toBeGreaterThanOrEqual(mill(before).at(-1)!.at);
    expect(after.criticalPath).toEqual(before.criticalPath);
  });

  it('takes up, when a keeper comes back, the stages published while none ran, marked late', async () => {
    const sidecar = (await docker(['ps', '-q', '--filter', `label=io.rig.rig=${r.name}`, '--filter', 'label=io.rig.role=sidecar'])).trim();
    const state = (await docker(['inspect', '-f', '{{index .Config.Labels "io.rig.state"}}', sidecar])).trim();
    const keeper = Number(readFileSync(join(state, 'keeper.pid'), 'utf8'));
    process.kill(keeper, 'SIGKILL');
    expect(await eventually(async () => !existsSync(`/proc/${keeper}`), 10_000)).toBe(true);
    const publish = 'set -- --library; . /.rig/bin/rig-fact; stage "by hand" && stage ready';
    const out = await rig(['exec', 'mill', '--name', r.name, '--', 'sh', '-c', publish]);
    expect(out.exitCode, out.all).toBe(0);
    const up = await rig(['up', 'rig.yaml'], { cwd: r.dir });
    expect(up.exitCode, up.all).toBe(0);
    let mill: Array<TraceEvent & { late?: boolean }> = [];
    await eventually(async () => {
      const trace = JSON.parse((await rig(['trace', '--name', r.name, '--format', 'json'])).stdout) as TraceJson;
      mill = trace.events.filter((e) => e.type === 'stage' && e.fqdn === MILL);
      return mill.some((e) => e.stage === 'by hand');
    }, 10_000);
    expect(mill.slice(-2).map((e) => [e.stage, e.late])).toEqual([
      ['by hand', true],
      ['ready', true],
    ]);
    expect(mill.slice(0, -2).filter((e) => e.late)).toEqual([]);
  });

  it("records at most MAX_STAGES_PER_NODE of a node's stages, and says so: a node cannot fill etcd through the recorder", async () => {
    const flood = 'set -- --library; . /.rig/bin/rig-fact; i=0; while [ $i -lt 210 ]; do stage "flood $i" || exit 1; i=$((i+1)); done';
    const out = await rig(['exec', 'pen', '--name', r.name, '--', 'sh', '-c', flood]);
    expect(out.exitCode, out.all).toBe(0);
    const penOf = (t: TraceJson) =>
      t.events.filter((e) => e.type === 'stage' && e.fqdn === PEN) as Array<TraceEvent & { capped?: boolean }>;
    let pen: ReturnType<typeof penOf> = [];
    await eventually(async () => {
      pen = penOf(JSON.parse((await rig(['trace', '--name', r.name, '--format', 'json'])).stdout) as TraceJson);
      return pen.length >= MAX_STAGES_PER_NODE;
    }, 10_000);
    expect(pen).toHaveLength(MAX_STAGES_PER_NODE);
    expect(pen.at(-1)?.capped).toBe(true);
    expect(pen.filter((e) => e.capped)).toHaveLength(1);
    const text = await rig(['trace', '--name', r.name]);
    expect(text.stdout).toMatch(/flood \d+ \(its later stages were not recorded\)/);
  });

  it('shows the events the host recorded (drills, in the shared layout) in each format, and skips one it cannot read', async () => {
    const sidecar = (await docker(['ps', '-q', '--filter', `label=io.rig.rig=${r.name}`, '--filter', 'label=io.rig.role=sidecar'])).trim();
    const labels = JSON.parse(await docker(['inspect', '-f', '{{json .Config.Labels}}', sidecar])) as Record<string, string>;
    const facts = await FactStore.connect({
      url: 'http://sidecar',
      rootPassword: labels['io.rig.etcd-root'],
      socket: join(labels['io.rig.state'], 'etcd', ETCD_SOCKET),
    });
    const now = Date.now();
    try {
      const event = (ms: number, kind: string, body: object) =>
        facts.setMark(r.name, `events/${ms}-${kind}-0a1b`, JSON.stringify({ time: new Date(ms).toISOString(), kind, ...body }));
      await event(now, 'kill', { node: BARN });
      await event(now + 1, 'partition', { nodes: [BARN, PEN], detail: 'both ways' });
      await facts.setMark(r.name, `events/${now + 2}-junk-0a1b`, 'not json');
    } finally {
      facts.close();
    }
    const json = JSON.parse((await rig(['trace', '--name', r.name, '--format', 'json'])).stdout) as TraceJson;
    const events = json.events.filter((e) => e.type === 'event') as Array<TraceEvent & { fqdns?: string[]; detail?: string }>;
    expect(events.map((e) => [e.kind, e.fqdn, e.fqdns, e.detail, e.time])).toEqual([
      ['kill', BARN, undefined, undefined, new Date(now).toISOString()],
      ['partition', undefined, [BARN, PEN], 'both ways', new Date(now + 1).toISOString()],
    ]);
    const text = (await rig(['trace', '--name', r.name])).stdout;
    expect(text).toMatch(
      new RegExp(`^events\\n\\s+\\+\\d+\\.\\d{3}s  kill ${BARN}\\n\\s+\\+\\d+\\.\\d{3}s  partition ${BARN} ${PEN}: both ways$`, 'm'),
    );
    const chrome = JSON.parse((await rig(['trace', '--name', r.name, '--format', 'chrome'])).stdout) as {
      traceEvents: Array<{ ph: string; name: string; tid: number; args?: { name?: string } }>;
    };
    const tid = (node: string) => chrome.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === node)!.tid;
    const instants = (name: string) => chrome.traceEvents.filter((e) => e.ph === 'i' && e.name === name).map((e) => e.tid);
    expect(instants('kill')).toEqual([tid(BARN)]);
    expect(instants('partition')).toEqual([tid(BARN), tid(PEN)]);
  });

  it('says there is no such rig, exit 2', async () => {
    const out = await rig(['trace', '--name', `${r.name}-nope`]);
    expect(out.exitCode, out.all).toBe(2);
    expect(out.stderr).toMatch(/No rig named .*-nope is up/);
  });

  it('refuses a format it does not know and a file it cannot write, exit 2, writing nothing', async () => {
    const format = await rig(['trace', '--name', r.name, '--format', 'svg']);
    expect(format.exitCode, format.all).toBe(2);
    expect(format.stderr).toMatch(/No trace format "svg"[\s\S]*text, json or chrome/);
    const dir = mkdtempSync(join(tmpdir(), 'rig-trace-'));
    try {
      const file = join(dir, 'missing', 'trace.json');
      const out = await rig(['trace', '--name', r.name, '-o', file]);
      expect(out.exitCode, out.all).toBe(2);
      expect(out.stderr).toContain(`The trace could not be written to ${file}`);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rig trace of a rig with an LXC node', () => {
  const r = useRig(
    'trace-lxc',
    (name) => `name: ${name}
domain: village.test
network: { internal: true }
configs: []
nodes:
  dock.village.test:
    backend: docker
    provision:
      - shell: rig-fact set token t1
  lex.village.test:
    backend: lxc
    needs: [dock.token]
    provision:
      - shell: sleep 1 # so that lex is ready last, whatever the load: the critical path ends with it
`,
  );

  it("records the LXC node's stages as the Docker node's, its wait on the Docker node on the critical path", async () => {
    const out = await rig(['trace', '--name', r.name, '--format', 'json']);
    expect(out.exitCode, out.all).toBe(0);
    const trace = JSON.parse(out.stdout) as TraceJson;
    const lex = trace.events.filter((e) => e.type === 'stage' && e.fqdn === 'lex.village.test');
    expect(lex.map((e) => e.stage)).toEqual([
      'created',
      'addressed',
      'facts',
      'waiting for dock.village.test token',
      'provisioning 1/1',
      'ready',
    ]);
    expect(trace.criticalPath.steps.map((s) => s.fqdn)).toEqual(expect.arrayContaining(['dock.village.test', 'lex.village.test']));
    const chrome = JSON.parse((await rig(['trace', '--name', r.name, '--format', 'chrome'])).stdout) as {
      traceEvents: Array<{ ph: string; name: string; args?: { name?: string } }>;
    };
    const threads = chrome.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args?.name);
    expect(threads).toEqual(['dock.village.test', 'lex.village.test']);
  });
});
