import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { docker, eventually, fixtureDir, rig, rigBin, useRig } from './helpers.js';

// Issue 22.1: each node follows its peers itself (its agent's etcd watches, no host process) and runs its
// reactions: to a peer's fact written with a new value, to a peer's stage (lost when its alive key goes); bursts
// are coalesced, a reaction that keeps triggering (a cycle between nodes) is stopped with a clear stage.

/** Each node's stage as `rig status --json` says it (one place to follow a rename of its fields). */
async function stages(name: string): Promise<Record<string, string>> {
  const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout) as Array<{
    nodes: Array<{ name: string; stage: string }>;
  }>;
  return Object.fromEntries(status.nodes.map((n) => [n.name, n.stage]));
}

/** Wait until `node`'s stage is `want` (or matches it); the stage last seen, and the node's log's end, if it never is. */
async function untilStage(name: string, node: string, want: string | RegExp, ms = 30_000): Promise<string> {
  let seen = '';
  const ok = await eventually(async () => {
    seen = (await stages(name))[node];
    return typeof want === 'string' ? seen === want : want.test(seen);
  }, ms);
  if (ok) return String(want);
  const log = (await rig(['logs', node, '--name', name])).stdout.split('\n').slice(-15).join('\n');
  return `${seen}\n--- ${node}'s log:\n${log}`;
}

const fact = async (name: string, node: string, f: string) => {
  const read = await rig(['facts', node, f, '--name', name]);
  return read.exitCode === 0 ? read.stdout.trim() : undefined;
};
const set = (name: string, node: string, script: string) =>
  rig(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=/.rig/bin:$PATH; ${script}`]);
/** How many times mill ran its reaction to barn.x: each run adds a line to a file of its own. */
const runs = async (name: string) =>
  Number((await docker(['exec', `rig-${name}.mill`, 'sh', '-c', 'cat /tmp/x-runs 2>/dev/null | wc -l'])).trim());

const RIG = (name: string) => `name: ${name}
domain: r.test
network: { internal: true }
configs: []
nodes:
  barn.r.test:
    on:
      - change: mill.counter
        run: [{ shell: 'rig-fact set counter $(( $(rig-fact get mill counter) + 1 ))' }]
  mill.r.test:
    on:
      - change: barn.x
        run:
          - shell: |
              echo "$RIG_REACTION_VALUE" >> /tmp/x-runs
              case "$RIG_REACTION_VALUE" in slow*) until [ -e /tmp/go ]; do sleep 0.2; done; rm /tmp/go ;; esac
              rig-fact set seen_x "$(rig-fact get barn x)"
      - stage: well
        run: [{ shell: 'rig-fact set well_was "$RIG_REACTION_VALUE"' }]
      - change: barn.fail
        run: [{ shell: 'echo "broken by $RIG_REACTION_VALUE" >&2; exit 3' }]
      - change: barn.fine
        run: [{ shell: 'rig-fact set fine_seen "$RIG_REACTION_VALUE"' }]
      - change: barn.counter
        run: [{ shell: 'rig-fact set counter $(( $(rig-fact get barn counter) + 1 ))' }]
  well.r.test:
`;

describe('reactions: a node reacts to its peers by itself', () => {
  const r = useRig('react', RIG);

  it("runs a reaction when a peer's fact is written with a new value, shows it in status --watch and the log, then is ready", async () => {
    const watch = execa('node', [rigBin, 'status', '--watch', '--name', r.name], { env: { CI: 'true' }, reject: false });
    let out = '';
    watch.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      expect(await eventually(async () => out.includes('well.r.test: ready'), 20_000)).toBe(true);
      const wrote = await set(r.name, 'barn', 'rig-fact set x 2');
      expect(wrote.exitCode, wrote.all).toBe(0);
      expect(await eventually(async () => (await fact(r.name, 'mill', 'seen_x')) === '2', 30_000)).toBe(true);
      expect(await untilStage(r.name, 'mill', 'ready', 30_000)).toBe('ready');
      expect(await eventually(async () => out.includes('mill.r.test: ready'), 10_000)).toBe(true);
      expect(out).toContain('mill.r.test: reacting to barn.x (1/1)');
    } finally {
      watch.kill('SIGINT');
      await watch;
    }
    const log = (await rig(['logs', 'mill', '--name', r.name])).stdout;
    expect(log).toContain('rig-agent: reacting to barn.x (now: 2)');
    expect(log).toContain('rig-agent: reaction to barn.x done: ready');
  });

  it('does not react to the same value written again', async () => {
    const before = await runs(r.name);
    await set(r.name, 'barn', 'rig-fact set x 2; rig-fact set x 3');
    expect(await eventually(async () => (await fact(r.name, 'mill', 'seen_x')) === '3', 30_000)).toBe(true);
    expect(await runs(r.name)).toBe(before + 1);
  });

  it('coalesces a burst: changes while a reaction runs make one more run, with the last value', async () => {
    const before = await runs(r.name);
    await set(r.name, 'barn', 'rig-fact set x slow-1');
    expect(await untilStage(r.name, 'mill', 'reacting to barn.x (1/1)', 30_000)).toBe('reacting to barn.x (1/1)');
    await set(r.name, 'barn', 'rig-fact set x b; rig-fact set x c; rig-fact set x d');
    // The first run goes on until the test lets it: the burst came while it ran.
    await docker(['exec', `rig-${r.name}.mill`, 'touch', '/tmp/go']);
    expect(await eventually(async () => (await fact(r.name, 'mill', 'seen_x')) === 'd', 60_000)).toBe(true);
    expect(await untilStage(r.name, 'mill', 'ready', 30_000)).toBe('ready');
    expect(await runs(r.name)).toBe(before + 2);
  });

  it("reacts to a peer's stage, and to a peer that dies (lost)", async () => {
    await set(r.name, 'well', '. /.rig/bin/rig-fact --library; login; stage maintenance');
    expect(await eventually(async () => (await fact(r.name, 'mill', 'well_was')) === 'maintenance', 30_000)).toBe(true);
    await docker(['kill', `rig-${r.name}.well`]);
    expect(await eventually(async () => (await fact(r.name, 'mill', 'well_was')) === 'lost', 30_000)).toBe(true);
    expect(await untilStage(r.name, 'mill', 'ready', 30_000)).toBe('ready');
  });

  it("says a reaction that failed in the node's stage, with its step's last lines", async () => {
    await set(r.name, 'barn', 'rig-fact set fail yes');
    const failed = 'failed: reaction to barn.fail: step 1/1 (shell) exited 3: broken by yes';
    expect(await untilStage(r.name, 'mill', failed)).toBe(failed);
    // The next reaction that works makes it ready again (another than barn.x's: the loop guard counts each one's runs).
    await set(r.name, 'barn', 'rig-fact set fine 1');
    expect(await eventually(async () => (await fact(r.name, 'mill', 'fine_seen')) === '1', 30_000)).toBe(true);
    expect(await untilStage(r.name, 'mill', 'ready', 30_000)).toBe('ready');
  });

  it('stops two nodes that keep reacting to each other, with a clear stage, never a tight loop', async () => {
    await set(r.name, 'barn', 'rig-fact set counter 1');
    const stopped = /^failed: reaction to (barn|mill)\.counter triggered 6 times in 30 s: stopped$/;
    let seen: Record<string, string> = {};
    expect(
      await eventually(async () => Object.values((seen = await stages(r.name))).some((s) => stopped.test(s)), 90_000, 500),
      JSON.stringify(seen),
    ).toBe(true);
    // Each node ran its reaction at most 6 times: the counters went no further than that.
    const counters = [Number(await fact(r.name, 'barn', 'counter')), Number(await fact(r.name, 'mill', 'counter'))];
    expect(Math.max(...counters)).toBeLessThanOrEqual(13);
  });
});

describe('reactions in rig graph', () => {
  it('draws each reaction as a dashed edge to the peer it follows', async () => {
    const fixture = fixtureDir(RIG('graphreact'));
    try {
      const graph = await rig(['graph', 'rig.yaml'], { cwd: fixture.dir });
      expect(graph.exitCode, graph.all).toBe(0);
      expect(graph.stdout).toContain('"mill.r.test" -> "barn.r.test" [label="on change x", style=dashed];');
      expect(graph.stdout).toContain('"mill.r.test" -> "well.r.test" [label="on stage", style=dashed];');
      expect(graph.stdout).toContain('"barn.r.test" -> "mill.r.test" [label="on change counter", style=dashed];');
    } finally {
      fixture.cleanup();
    }
  });
});

describe('reactions in a rig file that name what is not there', () => {
  it('exit 2 at file:line and key, before anything is made', async () => {
    const fixture = fixtureDir(`name: badreact
domain: r.test
nodes:
  barn.r.test:
  mill.r.test:
    on:
      - change: silo.x
        run: provision
      - change: barn
        run: provision
`);
    try {
      const check = await rig(['check', 'rig.yaml'], { cwd: fixture.dir });
      expect(check.exitCode, check.all).toBe(2);
      expect(check.stderr).toContain('rig.yaml:7:');
      expect(check.stderr).toContain('"silo.x" names no node.fact of this rig');
      expect(check.stderr).toContain('rig.yaml:9:');
      expect(check.stderr).toContain('"barn" names no fact: change: takes node.fact');
    } finally {
      fixture.cleanup();
    }
  });
});
