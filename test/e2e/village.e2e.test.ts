import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { docker, leftovers, rig, snapshot, uniqueName } from './helpers.js';

// The example a new user runs first (rigs/village), in a copy of its own so the repo is never touched.
describe('the village example: a replicated redis pair configured by Puppet through etcd', () => {
  const name = uniqueName('village');
  const dir = mkdtempSync(join(tmpdir(), 'rig-village-'));
  cpSync(resolve(import.meta.dirname, '../../rigs/village'), dir, { recursive: true });
  const before = snapshot(dir);
  let nodes: Array<{ node: string; address: string; state: string }> = [];

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml', '--name', name], { cwd: dir });
    expect(up.exitCode, up.all).toBe(0);
    nodes = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0].nodes;
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('brings every node to ready', () => {
    expect(nodes.map((n) => [n.node, n.state])).toEqual([
      ['barn.village.test', 'ready'],
      ['mill.village.test', 'ready'],
      ['well.village.test', 'ready'],
    ]);
  });

  it('configures the replica with Puppet from the live node\'s hiera data and its master\'s DHCP address from etcd', async () => {
    expect(readlinkSync(join(dir, 'control-repo/hieradata/nodes/mill.village.test.yaml'))).toBe('kelda.prod.example.yaml');
    const log = await rig(['logs', 'mill', '--name', name]);
    expect(log.stdout).toContain('Compiled catalog for mill.village.test');
    const conf = await docker(['exec', `rig-${name}.mill`, 'cat', '/etc/redis/redis.conf']);
    expect(conf).toContain(`replicaof ${nodes[0].address} 6379`); // barn, the node mirroring straleb (the live master)
    expect(conf).toContain('maxmemory 64mb'); // from kelda.prod.example.yaml, through the symlink
    const barnIp = await rig(['facts', 'barn', 'ipaddress', '--name', name]);
    expect(barnIp.stdout.trim()).toBe(nodes[0].address);
    const lease = await docker(['exec', `rig-${name}.sidecar`, 'cat', '/var/lib/misc/dnsmasq.leases']);
    expect(lease).toContain(` ${nodes[0].address} barn `);
  });

  it('replicates for real: a key written on the master is read on the replica', async () => {
    const key = `probe-${Date.now()}`;
    // WAIT 1: the master answers once one replica has acknowledged the write.
    const written = await docker(['exec', `rig-${name}.barn`, 'sh', '-c', `printf 'SET ${key} yes\\nWAIT 1 10000\\n' | redis-cli`]);
    expect(written.split('\n')).toEqual(['OK', '1']);
    expect((await docker(['exec', `rig-${name}.mill`, 'redis-cli', 'get', key])).trim()).toBe('yes');
    const role = await docker(['exec', `rig-${name}.mill`, 'redis-cli', 'info', 'replication']);
    expect(role).toContain('role:slave');
    expect(role).toContain(`master_host:${nodes[0].address}`);
  });

  it('lets the application node wait for both, then check replication itself', async () => {
    expect((await rig(['facts', 'well', 'replication', '--name', name])).stdout.trim()).toBe('ok');
    const test = await rig(['test', '--name', name]);
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toContain('4 passed, 0 failed');
  });

  it('comes down leaving nothing, the example\'s files as they were', async () => {
    expect((await rig(['down', '--name', name])).exitCode).toBe(0);
    expect(await leftovers(name)).toEqual([]);
    expect(snapshot(dir)).toEqual(before);
    expect(existsSync(join(dir, 'control-repo/hieradata/nodes/barn.village.test.yaml'))).toBe(false);
  });
});
