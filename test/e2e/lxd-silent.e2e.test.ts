import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

/**
 * An LXD daemon whose socket is there but that does not answer (it was killed and left its socket, or it is
 * stopping): a Docker rig's commands go on as if no LXD daemon were here, listings say what they leave out, and an
 * LXD rig is refused with the reason. The socket is one no daemon listens on (RIG_LXD_SOCKET), not this host's.
 */
describe('an LXD socket that nothing answers on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-lxd-silent-'));
  const env = { RIG_LXD_SOCKET: join(dir, 'unix.socket') };
  const name = uniqueName('silent');
  const fixture = fixtureDir(`
name: ${name}
domain: lab.test
network:
  internal: true
nodes:
  a.lab.test: {}
  b.lab.test: {}
`);

  beforeAll(async () => {
    // a Unix socket bound, and its process gone: connect() is refused, as on a daemon's stale socket
    await execa('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(env.RIG_LXD_SOCKET)})`]);
  });
  afterAll(async () => {
    await rig(['down', '--name', name], { env });
    fixture.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves a Docker rig to work: up, exec, status, ls (with a warning), the keeper, down', async () => {
    const up = await rig(['up', fixture.file], { cwd: fixture.dir, env });
    expect(up.exitCode, up.all).toBe(0);
    const exec = await rig(['exec', 'b', '--name', name, '--', 'hostname'], { env });
    expect(exec.exitCode, exec.all).toBe(0);
    expect(exec.stdout.trim()).toBe('b');
    const status = await rig(['status', '--name', name, '--json'], { env });
    expect(status.exitCode, status.all).toBe(0);
    const [state] = JSON.parse(status.stdout) as Array<{ keeper: boolean; nodes: Array<{ stage: string }> }>;
    expect(state.keeper).toBe(true);
    expect(state.nodes.map((n) => n.stage)).toEqual(['ready', 'ready']);
    const ls = await rig(['ls'], { env });
    expect(ls.exitCode, ls.all).toBe(0);
    expect(ls.stdout).toContain(name);
    expect(ls.stderr).toContain(`rig: warning: The LXD daemon does not answer on ${env.RIG_LXD_SOCKET}`);
    expect(ls.stderr.split('The LXD daemon does not answer').length, 'the warning once').toBe(2);
    const down = await rig(['down', '--name', name], { env });
    expect(down.exitCode, down.all).toBe(0);
    expect(await leftovers(name)).toEqual([]);
  });

  it('refuses an LXD rig with the reason (exit 2) and makes nothing', async () => {
    const lxdName = uniqueName('silentlxd');
    const lxdRig = fixtureDir(`
name: ${lxdName}
domain: lab.test
network:
  internal: true
nodes:
  c.lab.test:
    backend: lxd
`);
    try {
      const up = await rig(['up', lxdRig.file], { cwd: lxdRig.dir, env });
      expect(up.exitCode, up.all).toBe(2);
      expect(up.stderr).toContain(`The LXD daemon does not answer on ${env.RIG_LXD_SOCKET}`);
      expect(up.stderr).toContain('nothing of the rig is made');
      expect(await leftovers(lxdName)).toEqual([]);
    } finally {
      await rig(['down', '--name', lxdName], { env });
      lxdRig.cleanup();
    }
  });
});
