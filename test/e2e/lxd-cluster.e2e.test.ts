import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { docker, uniqueName } from './helpers.js';
import { LxdClient } from '../../src/runtime/lxd/api.js';
import { localSocket } from '../../src/runtime/lxd/transport.js';
import { deleteImage, importImage, metadataTarball } from '../../src/runtime/lxd/images.js';
import { createClusterBridge, deleteNetwork, network, rigNetworks } from '../../src/runtime/lxd/networks.js';
import { marksOf } from '../../src/runtime/lxd/marks.js';
import { Label } from '../../src/labels.js';

// rig's LXD client against a real three-member LXD cluster on this machine, each member's daemon in its own network
// namespace (scripts/lxd-test-cluster): one rig bridge across members joined by multicast VXLAN, an instance on each
// member reaching the others over it, and the client over HTTPS with a pinned certificate from inside a member's
// namespace (from the host's, outbound TLS is intercepted on this machine). Groundwork of issue 24: no rig command
// runs on LXD yet. It needs Debian's `lxd`, which scripts/setup installs.
const root = resolve(import.meta.dirname, '../..');
const script = join(root, 'scripts', 'lxd-test-cluster');
const tag = 'rlxc'; // this file's own test cluster (its namespaces, links and directory): files may run side by side
const lxdRoot = `/tmp/rig-lxd-${tag}`; // the script's default RIG_LXD_ROOT for the tag
const clusterEnv = { RIG_LXD_TAG: tag };
const installed = ['/usr/bin/lxd', '/usr/sbin/lxd', '/usr/local/bin/lxd', '/snap/bin/lxd'].some((p) => existsSync(p));

const MEMBERS = ['m1', 'm2', 'm3'];
const rig = uniqueName('lxdclu');
const alias = `rig-${rig}-busybox`;
const bridge = `rc${rig.replace(/\D/g, '').slice(-8)}`;
const nameOn = (member: string) => `rig-${rig}-${member}`;
const marks = marksOf({ [Label.rig]: rig, [Label.role]: 'node' });
const holderOf = (member: string) => readFileSync(join(lxdRoot, member, 'holder.pid'), 'utf8').trim();

/** A root filesystem of one static busybox (rig's tools image has it) whose init sleeps: about 1 MB. */
async function busyboxRootfs(dir: string): Promise<string> {
  const tools = (await docker(['images', '--filter', `label=${Label.image}=tools`, '--format', '{{.Repository}}:{{.Tag}}'])).split('\n')[0];
  const container = await docker(['create', '--network', 'none', '--label', `${Label.role}=unpack`, tools, '/x']);
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  try {
    await docker(['cp', `${container}:/rig/bin/busybox`, join(rootfs, 'bin', 'busybox')]);
  } finally {
    await docker(['rm', '-f', container]);
  }
  for (const tool of ['sh', 'ip', 'ping', 'sleep', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', tool));
  writeFileSync(join(rootfs, 'sbin', 'init'), '#!/bin/busybox sh\nexec /bin/busybox sleep 2147483647\n');
  chmodSync(join(rootfs, 'sbin', 'init'), 0o755);
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await execa('tar', ['-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
  return join(dir, 'rootfs.tar');
}

/** Run rig's LXD client (the built one) in a member's network namespace, over HTTPS; its stdout and exit code. */
async function overHttpsFrom(member: string, endpoint: object): Promise<{ exitCode: number; out: string }> {
  const built = join(root, 'dist', 'runtime', 'lxd', 'api.js');
  if (!existsSync(built)) throw new Error(`${built} is not built: run npm run build (npm test does) before this file`);
  const program = `
    const { LxdClient } = await import(${JSON.stringify(built)});
    const client = LxdClient.connect(JSON.parse(process.env.ENDPOINT));
    try { console.log(JSON.stringify((await client.members()).map((m) => m.server_name))); }
    catch (err) { console.log(String(err.message)); process.exitCode = 1; }`;
  const run = await execa('nsenter', ['-n', '-t', holderOf(member), process.execPath, '--input-type=module', '-e', program], {
    env: { ENDPOINT: JSON.stringify(endpoint) },
    reject: false,
    timeout: 60_000,
  });
  return { exitCode: run.exitCode ?? -1, out: `${run.stdout}${run.stderr}`.trim() };
}

describe('LXD REST API client, against a three-member LXD cluster in network namespaces', () => {
  let client: LxdClient;
  let work: string;
  let fingerprint: string | undefined;
  let trusted: string | undefined;

  beforeAll(async () => {
    if (!installed) throw new Error('lxd is not installed here: scripts/setup installs it (apt-get install lxd)');
    await execa(script, ['up', String(MEMBERS.length)], { timeout: 180_000, env: clusterEnv });
    client = LxdClient.connect({ socket: localSocket(join(lxdRoot, 'm1', 'lxd')) });
    work = mkdtempSync(join(tmpdir(), 'rig-lxd-e2e-'));
  });

  afterAll(async () => {
    const steps = [
      ...MEMBERS.map((m) => () => client?.deleteInstance(nameOn(m))),
      () => client && deleteNetwork(client, bridge),
      () => client && fingerprint && deleteImage(client, fingerprint),
      () => client && trusted && client.untrust(trusted),
      () => execa(script, ['down'], { timeout: 180_000, env: clusterEnv }),
    ];
    for (const step of steps) await Promise.resolve(step()).catch((err: unknown) => console.error('lxd-cluster.e2e cleanup:', err));
    if (work) rmSync(work, { recursive: true, force: true });
    expect(existsSync(lxdRoot)).toBe(false);
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(`${tag}-sw`);
    expect((await execa('ip', ['-br', 'link'])).stdout).not.toContain(`${tag}-m`);
  });

  it('has its three members online', async () => {
    expect((await client.members()).map((m) => [m.server_name, m.status])).toEqual(MEMBERS.map((m) => [m, 'Online']));
  });

  it('makes one rig bridge across the members, joined by a VXLAN tunnel with the rig’s own id', async () => {
    const id = 10_000 + Math.floor(Math.random() * 1_000_000);
    await createClusterBridge(client, bridge, MEMBERS, { id, device: 'eth0' }, marks);
    const made = await network(client, bridge);
    expect(made?.status).toBe('Created');
    expect(made?.config).toMatchObject({
      'ipv4.address': 'none',
      'ipv4.dhcp': 'false',
      'tunnel.v.id': String(id),
      'tunnel.v.protocol': 'vxlan',
    });
    expect((await rigNetworks(client, rig)).map((n) => n.name)).toEqual([bridge]);
  });

  it('runs an instance on each member on that bridge, and they reach each other across members', async () => {
    fingerprint = await importImage(client, {
      rootfs: await busyboxRootfs(work),
      metadata: metadataTarball('busybox'),
      alias,
      properties: marks,
    });
    for (const [i, member] of MEMBERS.entries()) {
      const devices = { eth0: { type: 'nic', network: bridge, name: 'eth0' } };
      await client.createInstance({ name: nameOn(member), alias, config: marks, devices, target: member });
      await client.setState(nameOn(member), 'start');
      const up = await client.exec(nameOn(member), ['sh', '-c', `ip link set eth0 up && ip addr add 10.99.0.${11 + i}/24 dev eth0`]);
      expect(up, up.stderr).toMatchObject({ exitCode: 0 });
    }
    const placed = Object.fromEntries((await client.rigInstances(rig)).map((i) => [i.name, i.location]));
    expect(placed).toEqual(Object.fromEntries(MEMBERS.map((m) => [nameOn(m), m])));
    for (const address of ['10.99.0.12', '10.99.0.13']) {
      const ping = await client.exec(nameOn('m1'), ['ping', '-c', '3', '-W', '2', address]);
      expect(ping.exitCode, `${ping.stdout}${ping.stderr}`).toBe(0);
    }
  });

  it('answers over HTTPS a client whose certificate it trusts, and rig refuses a server that is not the one pinned', async () => {
    const [key, cert] = [join(work, 'client.key'), join(work, 'client.crt')];
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=rig-e2e',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    trusted = await client.trust(readFileSync(cert, 'utf8'), `rig-e2e-${rig}`);
    const endpoint = {
      url: 'https://100.64.77.101:8443',
      clientCert: readFileSync(cert, 'utf8'),
      clientKey: readFileSync(key, 'utf8'),
      serverCert: readFileSync(join(lxdRoot, 'm1', 'lxd', 'cluster.crt'), 'utf8'),
    };
    expect(await overHttpsFrom('m2', endpoint)).toEqual({ exitCode: 0, out: JSON.stringify(MEMBERS) });
    const impostor = await overHttpsFrom('m2', { ...endpoint, serverCert: endpoint.clientCert }); // any other certificate
    expect(impostor.exitCode).toBe(1);
    expect(impostor.out).toContain('is not the one whose certificate rig was given');
  });

  it('deletes the instances, the bridge (on every member) and the image, and nothing of the rig is left', async () => {
    for (const member of MEMBERS) await client.deleteInstance(nameOn(member));
    await deleteNetwork(client, bridge);
    await deleteImage(client, fingerprint!);
    await client.untrust(trusted!);
    expect(await client.rigInstances(rig)).toEqual([]);
    expect(await rigNetworks(client, rig)).toEqual([]);
    expect(await network(client, bridge)).toBeUndefined();
  });
});
