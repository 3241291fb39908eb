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

const setStage = (name: string, stage: string) =>
  rig(['exec', 'a', '--name', name, '--', '/.rig/bin/sh', '-c', `. /.rig/bin/rig-fact --library && stage ${stage}`]);

describe('watches that outlive a restart of the sidecar', () => {
  const r = useRig(
    'wres',
    (name) => `name: ${name}
domain: w.test
network: { internal: true }
configs: []
nodes:
  a.w.test:
`,
  );

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

describe('a watch whose etcd stays gone', () => {
  const r = useRig(
    'wgone',
    (name) => `name: ${name}
domain: w.test
network: { internal: true }
configs: []
nodes:
  a.w.test:
`,
  );

  it('rig status --watch stops with an error that says why, not exit 0 in silence', async () => {
    const watch = watchStatus(r.name);
    expect(await eventually(async () => watch.out().includes('a.w.test: ready'), 15_000)).toBe(true);
    await docker(['stop', '-t', '1', `rig-${r.name}.sidecar`]);
    const ended = await watch.child;
    expect(ended.exitCode, ended.all).toBe(1);
    expect(ended.all).toMatch(/Lost rig wgone-\S+: etcd at \S+ did not answer for 30 s; the watch of \S+ stopped/);
  }, 90_000);
});
