import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { docker, eventually, rig, rigBin, useRig } from './helpers.js';

/** `rig status --watch` in the background, its output gathered as it comes. */
function watchStatus(name: string) {
  const child = execa('node', [rigBin, 'status', '--watch', '--name', name], { env: { CI: 'true' }, reject: false, all: true });
  let out = '';
  child.all!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { child, out: () => out };
}

/** How many watches the rig's etcd has started, from its metrics (etcd listens on loopback in the sidecar). */
async function watchesStarted(rig: string): Promise<number> {
  const metrics = await docker(['exec', `rig-${rig}.sidecar`, 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:2379/metrics']);
  return Number(/^grpc_server_started_total\{grpc_method="Watch",[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? NaN);
}

const setStage = (name: string, stage: string) =>
  rig(['exec', 'a', '--name', name, '--', '/.rig/bin/sh', '-c', `. /.rig/bin/rig-fact --library && stage ${stage}`]);

/** The rig file of a small internal rig with these nodes (short names, in the domain w.test). */
const rigOf = (nodes: string[]) => (name: string) =>
  `name: ${name}\ndomain: w.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n${nodes.map((n) => `  ${n}.w.test:\n`).join('')}`;

describe('watches that outlive a restart of the sidecar', () => {
  const r = useRig('wres', rigOf(['a']));

  it('rig status --watch follows again once the sidecar is back, from the last stage seen, and ends with rig down', async () => {
    const watch = watchStatus(r.name);
    try {
      expect(await eventually(async () => watch.out().includes('a.w.test: ready'), 15_000)).toBe(true);
      await docker(['restart', '-t', '1', `rig-${r.name}.sidecar`]);
      // The node reaches etcd again once the keeper has wired the sidecar back: a stage it writes then is seen.
      expect(await eventually(async () => (await setStage(r.name, 'after-restart')).exitCode === 0, 30_000)).toBe(true);
      expect(await eventually(async () => watch.out().includes('a.w.test: after-restart'), 15_000)).toBe(true);
      expect(watch.out()).toContain('its sidecar (etcd) stopped');
      expect(watch.child.exitCode).toBe(null); // still following
      await setStage(r.name, 'ready');
    } finally {
      const down = await rig(['down', '--name', r.name]);
      expect(down.exitCode).toBe(0);
      const ended = await watch.child;
      expect(ended.exitCode, ended.all).toBe(0);
    }
  });
});

describe('waits inside a node across a restart of the sidecar', () => {
  const r = useRig('wnode', rigOf(['a', 'b']));

  it('rig-fact wait --change takes its watch up again and wakes on the write after the restart', async () => {
    const before = await watchesStarted(r.name);
    const wait = execa('docker', ['exec', `rig-${r.name}.a`, '/.rig/bin/rig-fact', 'wait', '--change', '--timeout', '60', 'b', 'color'], {
      reject: false,
      all: true,
    });
    // The waiter follows its watch once etcd has started one more (its metrics, read inside the sidecar).
    expect(await eventually(async () => (await watchesStarted(r.name)) > before, 15_000, 100)).toBe(true);
    await docker(['restart', '-t', '1', `rig-${r.name}.sidecar`]);
    const written = await eventually(
      async () => (await rig(['exec', 'b', '--name', r.name, '--', '/.rig/bin/rig-fact', 'set', 'color', 'blue'])).exitCode === 0,
      30_000,
    );
    expect(written).toBe(true);
    const woke = await wait;
    expect(woke.exitCode, woke.all).toBe(0);
    expect(woke.stdout.trim()).toBe('blue');
  });

  it('rig-fact get says etcd cannot be reached, not that the fact does not exist', async () => {
    await docker(['pause', `rig-${r.name}.sidecar`]);
    try {
      const get = await rig([
        'exec',
        'a',
        '--name',
        r.name,
        '--',
        'sh',
        '-c',
        'RIG_ETCD_CALL_TIMEOUT=2 timeout 20 /.rig/bin/rig-fact get b ipaddress',
      ]);
      expect(get.exitCode, get.all).toBe(2);
      expect(get.stderr).toContain("rig-fact: cannot reach the rig's etcd");
      expect(get.stderr).not.toContain('no fact ipaddress');
    } finally {
      await docker(['unpause', `rig-${r.name}.sidecar`]);
    }
  });
});

describe('rig watch of a rig that is taken down', () => {
  const r = useRig('wdown', rigOf(['a']));

  it('stops with an error that says so, instead of passing every edit', async () => {
    const watch = execa('node', [rigBin, 'watch', '--name', r.name], { env: { CI: 'true' }, reject: false, all: true, cwd: r.dir });
    let out = '';
    watch.all!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    expect(await eventually(async () => out.includes('watching'), 20_000)).toBe(true);
    expect((await rig(['down', '--name', r.name])).exitCode).toBe(0);
    const ended = await watch;
    expect(ended.exitCode, ended.all).toBe(1);
    expect(ended.all).toContain(`Rig ${r.name} was taken down; rig watch stops.`);
    expect(ended.all).not.toContain('PASS');
  });
});

describe('a watch whose etcd stays gone', () => {
  const r = useRig('wgone', rigOf(['a']));

  it('rig status --watch stops with an error that says why, not exit 0 in silence', async () => {
    const watch = watchStatus(r.name);
    expect(await eventually(async () => watch.out().includes('a.w.test: ready'), 15_000)).toBe(true);
    await docker(['stop', '-t', '1', `rig-${r.name}.sidecar`]);
    const ended = await watch.child;
    expect(ended.exitCode, ended.all).toBe(1);
    expect(ended.all).toMatch(/Lost rig wgone-\S+: etcd at \S+ did not answer for 30 s; the watch of \S+ stopped/);
  }, 90_000);
});
