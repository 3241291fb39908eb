import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { uniqueName } from './helpers.js';
import { useTestCluster } from './lxd-test-cluster.js';
import { network } from '../../src/runtime/lxd/networks.js';
import { lxdNetworkName } from '../../src/plan/plan.js';

interface Status {
  sidecar: string;
  nodes: Array<{ fqdn: string; stage: string; backend: string; member?: string }>;
}

/**
 * The example rig (rigs/village: Puppet from the production control repo, a redis master and its replica under
 * systemd, an application node that checks replication) with only its place added (`backend: lxd`, the cluster as
 * its remote), across the members of a three-member cluster (lxd-test-cluster.ts): the replica on one member follows
 * its master on another by the master's live name.
 */
describe('the village rig across the members of an LXD cluster', () => {
  const name = uniqueName('lxdvil');
  const dir = mkdtempSync(join(tmpdir(), 'rig-e2e-village-'));
  cpSync(resolve(import.meta.dirname, '../../rigs/village'), dir, { recursive: true });
  const file = join(dir, 'rig.yaml');
  writeFileSync(file, `${readFileSync(file, 'utf8')}\nbackend: lxd\nlxd: { remote: clu }\n`);
  const cluster = useTestCluster('rvil', name, dir);
  const { fromMember } = cluster;
  let up: { exitCode?: number; all: string } = { all: '' };

  beforeAll(async () => {
    up = await fromMember(['up', 'rig.yaml', '--name', name], { timeout: 900_000 });
  }, 920_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('comes up with its nodes on more than one member, each ready', async () => {
    expect(up.exitCode, up.all).toBe(0);
    const listed = await fromMember(['status', '--name', name, '--json']);
    expect(listed.exitCode, listed.all).toBe(0);
    const [status] = JSON.parse(listed.stdout) as [Status];
    expect(status.nodes.map((n) => [n.fqdn, n.backend, n.stage])).toEqual(
      ['barn', 'mill', 'well'].map((n) => [`${n}.village.test`, 'lxd', 'ready']),
    );
    expect(new Set(status.nodes.map((n) => n.member)).size).toBeGreaterThan(1);
  });

  it("replicates across members, and rig test passes the rig file's checks", async () => {
    const test = await fromMember(['test', '--name', name]);
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toContain('passed, 0 failed');
    const link = await fromMember(['exec', 'mill', '--name', name, '--', 'redis-cli', 'info', 'replication']);
    expect(link.stdout).toContain('master_link_status:up');
    expect(link.stdout).toContain('master_host:straleb.prod.example');
  });

  it('rig down leaves nothing of it on any member', async () => {
    const down = await fromMember(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect(await cluster.rigInstances()).toEqual([]);
    expect(await network(cluster.client(), lxdNetworkName(name))).toBeUndefined();
  });
});
