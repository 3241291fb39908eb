import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RigError } from '../../src/errors.js';
import { LxdNodes } from '../../src/runtime/lxd/nodes.js';
import { nodeMarks } from '../../src/runtime/lxd/node-config.js';
import type { ImageFiles } from '../../src/runtime/runtime.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { planRig } from '../../src/plan/plan.js';
import { lxdOk, lxdSends, standInLxd } from './stand-in-lxd.js';

// An LXD node whose cluster member is not online (a member lost mid-rig), against a stand-in LXD on a Unix socket:
// listed as lost with its member, and `down` removes the nodes it can reach, names the ones it cannot, and keeps the
// rig's place recorded until they are gone. (A real member lost is for the cluster e2e, with the rig's network.)

interface Fake {
  members: Record<string, string>; // name -> status
  instances: Array<{ name: string; node: string; location: string; status: string }>;
}

/** A stand-in cluster: what LxdNodes asks to list and remove a rig's nodes. */
async function fakeCluster(fake: Fake): Promise<{ socket: string; asked: string[]; dir: string }> {
  // as LXD 5.0.2 lists an instance on an offline member: its name, member and status Error, no config (so no marks)
  const instance = (i: Fake['instances'][number]) => ({
    name: i.name,
    status: i.status,
    location: i.location,
    type: 'container',
    devices: {},
    config:
      fake.members[i.location] === 'Online'
        ? nodeMarks({ rig: 'r', node: i.node, roles: [], validate: [], update: [], links: [], systemd: false })
        : null,
  });
  return standInLxd((req, res) => {
    const url = new URL(req.url!, 'http://lxd');
    const named = /^\/1\.0\/instances\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/1.0')
      return lxdOk(res, { auth: 'trusted', environment: { server_clustered: true, server_name: 'm1', server_version: '5.0.2' } });
    if (url.pathname === '/1.0/cluster/members')
      return lxdOk(
        res,
        Object.entries(fake.members).map(([server_name, status]) => ({ server_name, status, message: '', url: '', roles: [] })),
      );
    if (url.pathname === '/1.0/instances') return lxdOk(res, fake.instances.map(instance));
    if (named && req.method === 'GET') return lxdOk(res, instance(fake.instances.find((i) => i.name === named[1])!));
    if (named && req.method === 'DELETE') {
      fake.instances = fake.instances.filter((i) => i.name !== named[1]);
      return lxdSends(res, 202, { type: 'async', status_code: 100, operation: '/1.0/operations/op1', metadata: {} });
    }
    if (url.pathname.startsWith('/1.0/operations/op1/wait')) return lxdOk(res, { id: 'op1', status: 'Success', status_code: 200, err: '' });
    lxdSends(res, 404, { type: 'error', error: 'not found', error_code: 404 });
  });
}

const noFiles: ImageFiles = {
  tools: () => Promise.reject(new Error('not in this test')),
  imageId: () => Promise.reject(new Error('not in this test')),
  unpack: () => Promise.reject(new Error('not in this test')),
};

describe('a member lost mid-rig', () => {
  it('shows its nodes as lost, with their member; down removes the others and names them, and finishes once it is back', async () => {
    const fake: Fake = {
      members: { m1: 'Online', m2: 'Offline' },
      instances: [
        { name: 'rig-r-a-1', node: 'a.v.test', location: 'm1', status: 'Stopped' },
        { name: 'rig-r-b-2', node: 'b.v.test', location: 'm2', status: 'Error' },
        { name: 'not-rigs', node: '', location: 'm2', status: 'Error' },
      ],
    };
    const { socket, asked, dir } = await fakeCluster(fake);
    const cacheDir = join(dir, 'cache');
    mkdirSync(join(cacheDir, 'lxd-places'), { recursive: true });
    // as up records the rig and its nodes as it makes them, and a node of another rig LXD lists without config too
    writeFileSync(
      join(cacheDir, 'lxd-places', 'r.json'),
      JSON.stringify({ project: 'default', nodes: { 'rig-r-a-1': 'a.v.test', 'rig-r-b-2': 'b.v.test' } }),
    );
    const nodes = new LxdNodes(noFiles, { socket, lxcConf: dir, cacheDir, toolsImage: 't', baseImage: 'b', baseRootfs: dir });

    expect((await nodes.list()).map((n) => n.node)).toEqual(['a.v.test', 'b.v.test']); // every rig's: not-rigs is no node
    const listed = await nodes.list('r');
    expect(listed.map((n) => [n.node, n.member, n.lost])).toEqual([
      ['a.v.test', 'm1', undefined],
      ['b.v.test', 'm2', 'its member m2 is offline'],
    ]);

    const down = await nodes.removeAll('r').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(down).toBeInstanceOf(RigError);
    expect((down as RigError).message).toBe(
      'rig could not remove 1 LXD node of rig r: b.v.test (instance rig-r-b-2 on m2: its member m2 is offline); the rest is removed.',
    );
    expect((down as RigError).hint).toContain('run rig down --name r again once m2 is back');
    expect(asked).toContain('DELETE /1.0/instances/rig-r-a-1');
    expect(asked.filter((a) => a.includes('rig-r-b-2'))).toEqual([]); // never tried: LXD would wait on it, then fail
    expect(existsSync(join(cacheDir, 'lxd-places', 'r.json'))).toBe(true); // so that down finds it again

    fake.members.m2 = 'Online';
    fake.instances = fake.instances.filter((i) => i.name !== 'not-rigs').map((i) => ({ ...i, status: 'Stopped' }));
    await nodes.removeAll('r');
    expect(fake.instances).toEqual([]);
    expect(existsSync(join(cacheDir, 'lxd-places', 'r.json'))).toBe(false);
  });
});

describe('a rig whose rig file moves its LXD nodes elsewhere', () => {
  it('is refused before anything is made while its nodes are where it recorded them', async () => {
    const { socket, dir } = await fakeCluster({ members: { m1: 'Online' }, instances: [] });
    const cacheDir = join(dir, 'cache');
    mkdirSync(join(cacheDir, 'lxd-places'), { recursive: true });
    writeFileSync(join(cacheDir, 'lxd-places', 'r.json'), JSON.stringify({ remote: 'ci', nodes: { 'rig-r-a-1': 'a.v.test' } }));
    const nodes = new LxdNodes(noFiles, { socket, lxcConf: dir, cacheDir, toolsImage: 't', baseImage: 'b', baseRootfs: dir });
    const plan = planRig(parseRigFile('name: r\nbackend: lxd\nlxd: { project: default }\nnodes: { a.v.test: }\n', 'rigs/r.yaml'));
    const err = await nodes.check(plan).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RigError);
    expect((err as RigError).exitCode).toBe(2);
    expect((err as RigError).message).toMatch(
      /rigs\/r\.yaml:3: lxd: rig r has LXD nodes on ci, and the rig file now puts them on local \(project default\)\.$/,
    );
    expect((err as RigError).hint).toBe('take the rig down first (rig down --name r), then up again');
  });
});
