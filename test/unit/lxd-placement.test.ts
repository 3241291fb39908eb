import { describe, expect, it, onTestFinished } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RigError } from '../../src/errors.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { planRig } from '../../src/plan/plan.js';
import { placeNodes, type MemberLoad } from '../../src/runtime/lxd/placement.js';
import { checkPlace, PlaceBook } from '../../src/runtime/lxd/places.js';
import { resolveRemote } from '../../src/runtime/lxd/remotes.js';
import { lxdOk, lxdSends, standInLxd } from './stand-in-lxd.js';

// Where a rig's LXD nodes go: placement over a cluster's members (pure), the lxc client's remotes as rig reads them,
// and what `up` checks of a remote before anything is made, against a stand-in LXD on a Unix socket (the real LXD,
// one daemon and a three-member cluster, is in test/e2e/lxd-placement.e2e.test.ts).

const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-lxd-place-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const members = (...loads: number[]): MemberLoad[] => loads.map((n, i) => ({ name: `m${i + 1}`, online: true, rigInstances: n }));
const nodes = (n: number, pinned: Record<string, string> = {}) =>
  Array.from({ length: n }, (_, i) => `n${String(i + 1).padStart(2, '0')}.v.test`).map((name) => ({ name, target: pinned[name] }));
const count = (placed: Map<string, string>) => {
  const by: Record<string, number> = {};
  for (const m of placed.values()) by[m] = (by[m] ?? 0) + 1;
  return by;
};

describe('placement', () => {
  it('spreads nodes evenly over the online members of an empty cluster', () => {
    expect(count(placeNodes('r', nodes(7), members(0, 0, 0)))).toEqual({
      m1: expect.any(Number),
      m2: expect.any(Number),
      m3: expect.any(Number),
    });
    const by = Object.values(count(placeNodes('r', nodes(7), members(0, 0, 0)))).sort();
    expect(by).toEqual([2, 2, 3]);
  });

  it('fills the members with the fewest rig instances first', () => {
    expect(count(placeNodes('r', nodes(3), members(5, 0, 3)))).toEqual({ m2: 3 });
    expect(count(placeNodes('r', nodes(6), members(2, 0, 1)))).toEqual({ m1: 1, m2: 3, m3: 2 });
  });

  it('leaves out members that are not online', () => {
    const cluster = [...members(0, 0), { name: 'm3', online: false, rigInstances: 0 }];
    expect(Object.keys(count(placeNodes('r', nodes(6), cluster))).sort()).toEqual(['m1', 'm2']);
  });

  it('puts a pinned node where its target says, and counts it', () => {
    const placed = placeNodes('r', nodes(4, { 'n01.v.test': 'm1', 'n02.v.test': 'm1' }), members(0, 0));
    expect(placed.get('n01.v.test')).toBe('m1');
    expect(placed.get('n02.v.test')).toBe('m1');
    expect(placed.get('n03.v.test')).toBe('m2');
    expect(placed.get('n04.v.test')).toBe('m2');
  });

  it('is the same every time for a rig, whatever the order of its nodes and members', () => {
    const once = placeNodes('shop', nodes(5), members(0, 0, 0));
    const again = placeNodes('shop', nodes(5).reverse(), members(0, 0, 0).reverse());
    expect([...again].sort()).toEqual([...once].sort());
  });

  it('does not start every rig on the same member', () => {
    const first = new Set(
      ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((rig) => placeNodes(rig, nodes(1), members(0, 0, 0)).get('n01.v.test')),
    );
    expect(first.size).toBeGreaterThan(1);
  });

  it('places nothing on a cluster with no member online', () => {
    expect(placeNodes('r', nodes(2), [{ name: 'm1', online: false, rigInstances: 0 }]).size).toBe(0);
  });
});

describe("the lxc client's remotes", () => {
  const socket = '/var/lib/lxd/unix.socket';
  const at = 'rigs/r.yaml:3: lxd.remote';

  function lxcConf(config: string, files: Record<string, string> = {}): string {
    const dir = scratch();
    writeFileSync(join(dir, 'config.yml'), config);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    return dir;
  }

  const refusal = (fn: () => unknown): RigError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(RigError);
      expect((err as RigError).exitCode).toBe(2);
      return err as RigError;
    }
    throw new Error('expected a refusal');
  };

  it('is this host’s daemon when the rig file names none, or names local', () => {
    expect(resolveRemote(undefined, { socket, lxcConf: '/nonexistent', at })).toMatchObject({ name: 'local', endpoint: { socket } });
    expect(resolveRemote('local', { socket, lxcConf: '/nonexistent', at })).toMatchObject({ name: 'local', endpoint: { socket } });
  });

  it("reads an HTTPS remote's address, project and certificates from lxc's config", () => {
    const dir = lxcConf('remotes:\n  ci:\n    addr: https://10.0.0.1:8443\n    auth_type: tls\n    project: builds\n    protocol: lxd\n', {
      'client.crt': 'CERT',
      'client.key': 'KEY',
      'servercerts/ci.crt': 'SERVER',
    });
    expect(resolveRemote('ci', { socket, lxcConf: dir, at })).toEqual({
      name: 'ci',
      endpoint: { url: 'https://10.0.0.1:8443', clientCert: 'CERT', clientKey: 'KEY', serverCert: 'SERVER' },
      project: 'builds',
      where: 'https://10.0.0.1:8443',
    });
  });

  it('takes a remote at a Unix socket', () => {
    const dir = lxcConf('remotes:\n  other:\n    addr: unix:///tmp/other/unix.socket\n');
    expect(resolveRemote('other', { socket, lxcConf: dir, at }).endpoint).toEqual({ socket: '/tmp/other/unix.socket' });
  });

  it('refuses a remote the lxc client does not have, naming the rig file line and the ones it has', () => {
    const err = refusal(() => resolveRemote('prod', { socket, lxcConf: lxcConf('remotes:\n  ci: { addr: "https://h:8443" }\n'), at }));
    expect(err.message).toMatch(/^rigs\/r\.yaml:3: lxd\.remote: the lxc client has no remote named prod \(.*config\.yml has ci\)\.$/);
    expect(err.hint).toContain('lxc remote add prod https://HOST:8443');
    expect(refusal(() => resolveRemote('prod', { socket, lxcConf: '/nonexistent', at })).message).toContain(
      'there is no lxc client config',
    );
  });

  it('refuses an image server, another authentication, and a remote whose certificates are missing', () => {
    const images = lxcConf('remotes:\n  images: { addr: "https://images.example", protocol: simplestreams }\n');
    expect(refusal(() => resolveRemote('images', { socket, lxcConf: images, at })).message).toContain('is an image server (simplestreams)');
    const candid = lxcConf('remotes:\n  c: { addr: "https://h:8443", auth_type: candid }\n');
    expect(refusal(() => resolveRemote('c', { socket, lxcConf: candid, at })).message).toContain('authenticates with candid');
    const bare = lxcConf('remotes:\n  ci: { addr: "https://h:8443" }\n', { 'client.crt': 'C', 'client.key': 'K' });
    const err = refusal(() => resolveRemote('ci', { socket, lxcConf: bare, at }));
    expect(err.message).toContain("the server's certificate lxc pinned");
    expect(err.hint).toContain('lxc remote remove ci');
  });
});

describe('the place book', () => {
  it('records where a rig’s nodes are and each node as it is made, drops a node removed, and forgets the rig', () => {
    const book = new PlaceBook(join(scratch(), 'lxd-places'));
    expect(book.all()).toEqual([]);
    const place = { remote: 'ci', project: 'builds', lxcConf: '/root/.config/lxc' };
    book.record('shop', place, { instance: 'rig-shop-db-1', fqdn: 'db.shop.test' });
    book.record('shop', place, { instance: 'rig-shop-web-2', fqdn: 'web.shop.test' });
    expect(book.get('shop')).toEqual({ ...place, nodes: { 'rig-shop-db-1': 'db.shop.test', 'rig-shop-web-2': 'web.shop.test' } });
    book.drop('shop', 'rig-shop-db-1');
    expect(book.all()).toEqual([{ rig: 'shop', place: { ...place, nodes: { 'rig-shop-web-2': 'web.shop.test' } } }]);
    book.record('shop', { remote: 'other' }, { instance: 'rig-shop-db-1', fqdn: 'db.shop.test' }); // a new place: a new record
    expect(book.get('shop')).toEqual({ remote: 'other', nodes: { 'rig-shop-db-1': 'db.shop.test' } });
    book.forget('shop');
    expect(book.get('shop')).toBeUndefined();
  });
});

describe('what up checks of an LXD before anything is made', () => {
  interface Fake {
    clustered: boolean;
    projects: string[];
    members?: Array<{ server_name: string; status: string }>;
    rootDisk?: boolean;
    instances?: Array<{ location: string }>;
  }

  /** A stand-in LXD answering what checkPlace asks. */
  const fakeLxd = (fake: Fake) =>
    standInLxd((req, res) => {
      const url = new URL(req.url!, 'http://lxd');
      const project = url.searchParams.get('project') ?? 'default';
      if (url.pathname === '/1.0')
        return lxdOk(res, {
          auth: 'trusted',
          environment: { server_clustered: fake.clustered, server_name: 'solo', server_version: '5.0.2' },
        });
      if (url.pathname === '/1.0/projects')
        return lxdOk(
          res,
          fake.projects.map((p) => `/1.0/projects/${p}`),
        );
      const named = /^\/1\.0\/projects\/(.+)$/.exec(url.pathname);
      if (named && !fake.projects.includes(decodeURIComponent(named[1])))
        return lxdSends(res, 404, { type: 'error', error: 'Project not found', error_code: 404 });
      if (named) return lxdOk(res, { name: named[1] });
      if (url.pathname === '/1.0/profiles/default')
        return lxdOk(res, { devices: fake.rootDisk === false ? {} : { root: { type: 'disk', path: '/', pool: 'p' } }, project });
      if (url.pathname === '/1.0/cluster/members')
        return lxdOk(
          res,
          (fake.members ?? []).map((m) => ({ ...m, message: '', url: '', roles: [] })),
        );
      if (url.pathname === '/1.0/instances')
        return lxdOk(
          res,
          (fake.instances ?? []).map((i, n) => ({ name: `i${n}`, location: i.location, config: { 'user.rig.rig': 'other' } })),
        );
      lxdSends(res, 404, { type: 'error', error: 'not found', error_code: 404 });
    });

  const y = (...lines: string[]) => lines.join('\n') + '\n';
  const planOf = (...lines: string[]) => planRig(parseRigFile(y(...lines), 'rigs/r.yaml'));
  const check = async (fake: Fake, project: string, ...lines: string[]) => {
    const { socket, asked } = await fakeLxd(fake);
    const plan = planOf(...lines);
    const remote = { name: 'local', endpoint: { socket }, where: socket };
    const placed = await checkPlace(remote, project, plan, { file: plan.spec.file, ...plan.spec.lxd?.lines });
    return { placed, asked };
  };
  const refused = async (fake: Fake, project: string, ...lines: string[]): Promise<RigError> => {
    const err = await check(fake, project, ...lines).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RigError);
    expect((err as RigError).exitCode).toBe(2);
    return err as RigError;
  };

  it('places every node of a clustered LXD, with the load it has, and asks in the project', async () => {
    const fake = {
      clustered: true,
      projects: ['default', 'ci'],
      members: [
        { server_name: 'm1', status: 'Online' },
        { server_name: 'm2', status: 'Online' },
      ],
      instances: [{ location: 'm1' }],
    };
    const { placed, asked } = await check(
      fake,
      'ci',
      'backend: lxd',
      'lxd: { project: ci }',
      'nodes: { a.v.test: , b.v.test: , c.v.test: }',
    );
    expect(count(placed)).toEqual({ m1: 1, m2: 2 });
    expect(asked).toContain('GET /1.0/instances?recursion=1&project=ci');
    expect(asked).toContain('GET /1.0/profiles/default?project=ci');
  });

  it('places nothing on an LXD that is not clustered: its one server takes the nodes', async () => {
    const { placed } = await check({ clustered: false, projects: ['default'] }, 'default', 'backend: lxd', 'nodes: { a.v.test: }');
    expect(placed.size).toBe(0);
  });

  it('refuses a project that is not there, at the line of project:', async () => {
    const err = await refused(
      { clustered: false, projects: ['default', 'web'] },
      'ci',
      'backend: lxd',
      'lxd:',
      '  project: ci',
      'nodes: { a.v.test: }',
    );
    expect(err.message).toBe(
      `${planOf('nodes: { a.v.test: }').spec.dir}/r.yaml:3: lxd.project: the LXD at ${err.message.split(' at ')[1].split(' has')[0]} has no project ci (it has default, web).`,
    );
    expect(err.hint).toContain('lxc project create local:ci');
  });

  it('refuses a project whose default profile has no root disk', async () => {
    const err = await refused(
      { clustered: false, projects: ['default', 'ci'], rootDisk: false },
      'ci',
      'backend: lxd',
      'lxd: { project: ci }',
      'nodes: { a.v.test: }',
    );
    expect(err.message).toContain('the default profile of project ci');
    expect(err.hint).toContain('lxc profile device add local:default root disk path=/');
  });

  it('refuses a target on an LXD that is not a cluster, at the line of the target', async () => {
    const err = await refused(
      { clustered: false, projects: ['default'] },
      'default',
      'backend: lxd',
      'nodes:',
      '  a.v.test:',
      '    lxd: { target: m2 }',
    );
    expect(err.message).toMatch(/r\.yaml:4: lxd\.target: the LXD at .* is not a cluster, so it has no member m2 to put a\.v\.test on\.$/);
    expect(err.hint).toContain('remove target:');
  });

  it('refuses a target that is not a member, or not online, naming the online ones', async () => {
    const members = [
      { server_name: 'm1', status: 'Online' },
      { server_name: 'm2', status: 'Offline' },
    ];
    let err = await refused(
      { clustered: true, projects: ['default'], members },
      'default',
      'backend: lxd',
      'lxd: { target: m9 }',
      'nodes: { a.v.test: }',
    );
    expect(err.message).toMatch(/r\.yaml:2: lxd\.target: m9 is not a member of the cluster at .* \(its members: m1, m2\)\.$/);
    expect(err.hint).toBe('name one of its online members (m1), or remove target: to let rig place the node');
    err = await refused(
      { clustered: true, projects: ['default'], members },
      'default',
      'backend: lxd',
      'nodes:',
      '  a.v.test:',
      '    lxd: { target: m2 }',
    );
    expect(err.message).toContain('r.yaml:4: lxd.target: m2, the member a.v.test is to go on, is offline');
  });

  it('refuses a remote that does not answer, at the line of remote:', async () => {
    const plan = planOf('backend: lxd', 'lxd:', '  remote: gone', 'nodes: { a.v.test: }');
    const remote = { name: 'gone', endpoint: { socket: join(scratch(), 'none.socket') }, where: 'https://10.9.9.9:8443' };
    const err = await checkPlace(remote, 'default', plan, { file: plan.spec.file, ...plan.spec.lxd?.lines }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RigError);
    expect((err as RigError).exitCode).toBe(2);
    expect((err as RigError).message).toMatch(/r\.yaml:3: lxd\.remote: no LXD answers at https:\/\/10\.9\.9\.9:8443 \(remote gone\): /);
  });
});
