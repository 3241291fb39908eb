import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createEngine } from '../../src/cli/engine.js';
import { EtcdClient, EtcdUnanswered } from '../../src/facts/etcd.js';
import { ETCD_SOCKET, etcdCommand } from '../../src/plan/sidecar.js';
import { docker, eventually, uniqueName } from './helpers.js';

// rig's sidecar on its own, wired by hand: its etcd serves the host on its Unix socket at once, and keeps the rig
// bridge out (a reset) until rig lets the nodes in, which it does once etcd's auth is on. `rig up` relies on it to
// wire nodes while etcd starts: no node can write to etcd before rig has locked it down.
describe("the sidecar's etcd", () => {
  const name = uniqueName('rig-gate');
  const octet = 200 + (process.pid % 50);
  const ip = (host: number) => `10.250.${octet}.${host}`;
  const hostEnd = `rg${process.pid % 100000}`;
  const state = mkdtempSync('/dev/shm/rig-gate-');
  const clients: EtcdClient[] = [];
  const client = (...args: ConstructorParameters<typeof EtcdClient>) => {
    const c = new EtcdClient(...args);
    clients.push(c);
    return c;
  };

  afterAll(async () => {
    clients.forEach((c) => c.close());
    await execa('docker', ['rm', '-f', name], { reject: false });
    await execa('ip', ['link', 'del', hostEnd], { reject: false });
    rmSync(state, { recursive: true, force: true });
  });

  const log = () => execa('docker', ['logs', name], { all: true, reject: false }).then((r) => r.all ?? '');
  const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, 'g'))?.length ?? 0;
  /** The sidecar's `run`-th start serves: eth0 has its addresses and etcd serves (the socket and the bridge). */
  const serving = (run: number) => async () => {
    const text = await log();
    return count(text, /eth0 has the rig's addresses/) >= run && count(text, /serving client traffic/) >= 2 * run;
  };

  /** Start the sidecar's container, then give it its eth0 as rig does: a veth whose other end is on the host. */
  async function startWired(run: number): Promise<void> {
    const pid = await docker(['inspect', '-f', '{{.State.Pid}}', name]);
    await execa('ip', ['link', 'del', hostEnd], { reject: false });
    await execa('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', `${hostEnd}p`]);
    await execa('ip', ['link', 'set', `${hostEnd}p`, 'netns', pid, 'name', 'eth0']);
    await execa('ip', ['addr', 'add', `${ip(1)}/24`, 'dev', hostEnd]);
    await execa('ip', ['link', 'set', hostEnd, 'up']);
    expect(await eventually(serving(run), 30_000), await log()).toBe(true);
  }

  it('serves the host on its socket, answers the bridge with a reset until rig lets the nodes in, and keeps them in after a restart', async () => {
    for (const dir of ['etcd', 'misc']) mkdirSync(join(state, dir));
    const image = (await createEngine()).images.ref('sidecar');
    const dnsmasq = [
      'dnsmasq',
      '--keep-in-foreground',
      '--log-facility=-',
      '--no-resolv',
      '--no-hosts',
      `--dhcp-range=${ip(16)},${ip(20)},1h`,
    ];
    // prettier-ignore
    await docker([
      'run', '-d', '--name', name, '--network', 'none', '--cap-add', 'NET_ADMIN', '-w', '/var/lib/etcd',
      '-e', `RIG_ADDRESSES=${ip(2)}/24 ${ip(3)}/24`, '-e', `RIG_ETCD_SOCKET=${ETCD_SOCKET}`,
      '-v', `${join(state, 'etcd')}:/var/lib/etcd`, '-v', `${join(state, 'misc')}:/var/lib/misc`,
      '--entrypoint', '/usr/local/bin/rig-sidecar', image,
      ...dnsmasq, '--', ...etcdCommand({ addresses: { etcd: ip(3) } } as Parameters<typeof etcdCommand>[0]),
    ]);
    await startWired(1);

    const host = client('http://localhost', undefined, join(state, 'etcd', ETCD_SOCKET));
    await host.put('/rig/gate/k', 'v');
    const bridge = client(`http://${ip(3)}:2379`);
    const refused = await bridge.get('/rig/gate/k').catch((err: Error) => err);
    expect(refused).toBeInstanceOf(EtcdUnanswered);
    expect((refused as Error).message).toMatch(/ECONNREFUSED/); // a reset at once, not a wait for a timeout

    await docker(['kill', '-s', 'USR1', name]);
    expect(await eventually(async () => /rig-sidecar: etcd lets the nodes in/.test(await log()), 10_000)).toBe(true);
    expect(await bridge.get('/rig/gate/k')).toBe('v');

    // A restart (the keeper wires it again) keeps the nodes in: no gate, no signal needed.
    await docker(['restart', '-t', '1', name]);
    await startWired(2);
    expect(await eventually(async () => (await bridge.get('/rig/gate/k').catch(() => null)) === 'v', 10_000)).toBe(true);
    expect((await docker(['exec', name, 'iptables', '-S', 'INPUT'])).includes('REJECT')).toBe(false);
  });
});
