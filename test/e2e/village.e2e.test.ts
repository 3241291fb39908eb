import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { applyAgain, docker, leftovers, rig, snapshot, uniqueName } from './helpers.js';

// The example a new user runs first (rigs/village), in a copy of its own so the repo is never touched.
describe('the village example: production Puppet code, unchanged, for a replicated redis pair under systemd', () => {
  const name = uniqueName('village');
  const dir = mkdtempSync(join(tmpdir(), 'rig-village-'));
  cpSync(resolve(import.meta.dirname, '../../rigs/village'), dir, { recursive: true });
  const before = snapshot(dir);
  let nodes: Array<{ fqdn: string; ip: string; stage: string }> = [];

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
    expect(nodes.map((n) => [n.fqdn, n.stage])).toEqual([
      ['barn.village.test', 'ready'],
      ['mill.village.test', 'ready'],
      ['well.village.test', 'ready'],
    ]);
  });

  it('has a control repo with nothing rig-specific in it', () => {
    const files = (readdirSync(join(dir, 'control-repo'), { recursive: true }) as string[]).filter((f) =>
      statSync(join(dir, 'control-repo', f)).isFile(),
    );
    expect(files.length).toBeGreaterThan(4);
    for (const f of files) {
      // the links rig makes (nodes/<made-up name>.yaml) are not there before up
      expect(readFileSync(join(dir, 'control-repo', f), 'utf8'), f).not.toMatch(/\brig\b|rig::|rig-fact|village\.test|\/\.rig/);
    }
  });

  it("configures the replica with Puppet from the live node's hiera data: its master by its live name", async () => {
    expect(readlinkSync(join(dir, 'control-repo/hieradata/nodes/mill.village.test.yaml'))).toBe('kelda.prod.example.yaml');
    const log = await rig(['logs', 'mill', '--name', name]);
    expect(log.stdout).toContain('Compiled catalog for mill.village.test');
    const conf = await docker(['exec', `rig-${name}.mill`, 'cat', '/etc/redis/redis.conf']);
    expect(conf).toContain('replicaof straleb.prod.example 6379'); // the live master's name, as in production
    expect(conf).toContain('maxmemory 64mb'); // from kelda.prod.example.yaml, through the symlink
    // ... which resolves, in the rig, to barn, the node mirroring straleb
    const resolved = await docker(['exec', `rig-${name}.mill`, 'getent', 'hosts', 'straleb.prod.example']);
    expect(resolved.split(/\s+/)[0]).toBe(nodes[0].ip);
    const lease = await docker(['exec', `rig-${name}.sidecar`, 'cat', '/var/lib/misc/dnsmasq.leases']);
    expect(lease).toContain(` ${nodes[0].ip} barn `);
  });

  it("runs Debian's redis-server under systemd, managed by Puppet's service", async () => {
    for (const node of ['barn', 'mill']) {
      expect((await docker(['exec', `rig-${name}.${node}`, 'systemctl', 'is-active', 'redis-server'])).trim()).toBe('active');
    }
  });

  it('converges: a second puppet apply changes nothing', async () => {
    for (const node of ['barn', 'mill', 'well']) {
      const again = await applyAgain(name, node);
      expect(again.exitCode, `${node}: ${again.all}`).toBe(0);
    }
  });

  it('rig check maps every live name the control repo names to a rig node', async () => {
    const check = await rig(['check', join(dir, 'rig.yaml'), '--json']);
    expect(check.exitCode, check.all).toBe(0);
    const names = JSON.parse(check.stdout) as Array<{ name: string; mirroredBy: string[] }>;
    expect(names.map((n) => [n.name, n.mirroredBy])).toEqual([['straleb.prod.example', ['barn.village.test']]]);
  });

  it('gives its nodes roles, so rig exec --role reaches them', async () => {
    const app = await rig(['exec', '--role', 'app', '--name', name, '--', 'hostname']);
    expect(app.exitCode, app.all).toBe(0);
    expect(app.stdout.trim()).toMatch(/well\s*$/);
    const redis = await rig(['exec', '--role', 'redis', '--name', name, '--', 'hostname']);
    expect(redis.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('replicates for real: a key written on the master is read on the replica', async () => {
    const key = `probe-${Date.now()}`;
    // WAIT 1: the master answers once one replica has acknowledged the write.
    const written = await docker(['exec', `rig-${name}.barn`, 'sh', '-c', `printf 'SET ${key} yes\\nWAIT 1 10000\\n' | redis-cli`]);
    expect(written.split('\n')).toEqual(['OK', '1']);
    expect((await docker(['exec', `rig-${name}.mill`, 'redis-cli', 'get', key])).trim()).toBe('yes');
    const role = await docker(['exec', `rig-${name}.mill`, 'redis-cli', 'info', 'replication']);
    expect(role).toContain('role:slave');
    expect(role).toContain('master_host:straleb.prod.example');
  });

  it('lets the application node wait for what barn computed while provisioning, then check replication itself', async () => {
    const runId = (
      await docker(['exec', `rig-${name}.barn`, 'sh', '-c', "redis-cli info server | sed -n 's/^run_id://p' | tr -d '\\r'"])
    ).trim();
    expect(runId).toMatch(/^[0-9a-f]{40}$/);
    expect((await rig(['facts', 'barn', 'redis_run_id', '--name', name])).stdout.trim()).toBe(runId);
    expect((await rig(['facts', 'well', 'replication', '--name', name])).stdout.trim()).toBe('ok');
    const test = await rig(['test', '--name', name]);
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toContain('5 passed, 0 failed');
  });

  it("comes down leaving nothing, the example's files as they were", async () => {
    expect((await rig(['down', '--name', name])).exitCode).toBe(0);
    expect(await leftovers(name)).toEqual([]);
    expect(snapshot(dir)).toEqual(before);
    expect(existsSync(join(dir, 'control-repo/hieradata/nodes/barn.village.test.yaml'))).toBe(false);
  });
});
