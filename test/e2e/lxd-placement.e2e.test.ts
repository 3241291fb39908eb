import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { eventually, fixtureDir, leftovers, rig, uniqueName } from './helpers.js';
import { rigInstances, useLxdHost } from './lxd-host.js';
import { CACHE, useTestCluster } from './lxd-test-cluster.js';
import { nodeMarks } from '../../src/runtime/lxd/node-config.js';

// Where a rig's LXD nodes go (lxd: remote, project, target), through the real CLI: what `up` refuses, with exit 2
// and the rig file's line, before anything is made, on this host's own LXD daemon (not a cluster) and on a
// three-member LXD cluster in network namespaces (scripts/lxd-test-cluster), reached over HTTPS as an lxc client's
// remote from inside a member's namespace (from the host's own, outbound TLS is intercepted on this machine).
const root = resolve(import.meta.dirname, '../..');

/** Nothing of the rig anywhere: no container, network or rule of Docker's, no LXD instance, no place recorded. */
async function nothingMade(name: string, instances: () => Promise<unknown[]>): Promise<void> {
  expect(await leftovers(name)).toEqual([]);
  expect(await instances()).toEqual([]);
  expect(existsSync(join(CACHE, 'lxd-places', `${name}.json`))).toBe(false);
}

describe("lxd: on this host's own LXD daemon, which is not a cluster", () => {
  useLxdHost();

  const refused = async (name: string, lxd: string[], node: string[] = [], env: Record<string, string> = {}) => {
    const fixture = fixtureDir(
      [`name: ${name}`, 'domain: lab.test', 'backend: lxd', ...lxd, 'nodes:', '  a.lab.test:', ...node, '  b.lab.test: {}', ''].join('\n'),
    );
    try {
      const up = await rig(['up', fixture.file], { cwd: fixture.dir, env });
      expect(up.exitCode, up.all).toBe(2);
      await nothingMade(name, () => rigInstances(name));
      return up.all.replaceAll(fixture.file, 'rig.yaml').replaceAll(`${fixture.dir}/`, '');
    } finally {
      fixture.cleanup();
    }
  };

  it('refuses a project that does not exist, at the line of project:, with nothing made', async () => {
    const out = await refused(uniqueName('lxdpj'), ['lxd:', '  project: nosuchproject']);
    expect(out).toMatch(
      /rig\.yaml:5: lxd\.project: the LXD at \/var\/lib\/lxd\/unix\.socket has no project nosuchproject \(it has default[^)]*\)\./,
    );
    expect(out).toContain('lxc project create local:nosuchproject');
  });

  it('refuses a target:, rig-wide or a node’s, since it is not a cluster, at its line, with nothing made', async () => {
    let out = await refused(uniqueName('lxdtg'), [], ['    lxd: { target: m9 }']);
    expect(out).toMatch(
      /rig\.yaml:6: lxd\.target: the LXD at \/var\/lib\/lxd\/unix\.socket is not a cluster, so it has no member m9 to put a\.lab\.test on\./,
    );
    expect(out).toContain('remove target:');
    out = await refused(uniqueName('lxdtg'), ['lxd:', '  target: m1']);
    expect(out).toContain('rig.yaml:5: lxd.target: the LXD at /var/lib/lxd/unix.socket is not a cluster, so it has no member m1');
  });

  it('refuses, for now, a rig of LXD nodes only in a project other than the default, with nothing made', async () => {
    const project = uniqueName('rigpj')
      .replace(/[^a-z0-9]/g, '')
      .slice(-14);
    await execa('lxc', ['project', 'create', project], { stdin: 'ignore' });
    try {
      // a project nodes could go in: its default profile has a root disk
      await execa('lxc', ['profile', 'device', 'add', 'default', 'root', 'disk', 'path=/', 'pool=default', '--project', project], {
        stdin: 'ignore',
      });
      const out = await refused(uniqueName('lxdpn'), ['lxd:', `  project: ${project}`]);
      expect(out).toContain(`rig.yaml:5: lxd.project: a rig of LXD nodes only is made in LXD's default project for now`);
    } finally {
      await execa('lxc', ['project', 'delete', project], { stdin: 'ignore', reject: false });
    }
  });

  it('refuses a remote the lxc client does not have, with nothing made', async () => {
    const conf = mkdtempSync(join(tmpdir(), 'rig-lxc-conf-'));
    try {
      writeFileSync(
        join(conf, 'config.yml'),
        'default-remote: local\nremotes:\n  other: { addr: "https://100.64.0.9:8443", protocol: lxd }\n',
      );
      const out = await refused(uniqueName('lxdrm'), ['lxd:', '  remote: nosuchremote'], [], { LXD_CONF: conf });
      expect(out).toContain('rig.yaml:5: lxd.remote: the lxc client has no remote named nosuchremote');
      expect(out).toContain('has other');
    } finally {
      rmSync(conf, { recursive: true, force: true });
    }
  });

  it("shows each LXD node's server as its member, in status and status --json, and down forgets its place", async () => {
    const name = uniqueName('lxdmb');
    const fixture = fixtureDir(`
name: ${name}
domain: lab.test
network:
  internal: true
nodes:
  box.lab.test:
    backend: lxd
  dock.lab.test: {}
`);
    try {
      const up = await rig(['up', fixture.file], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
      const server = JSON.parse((await execa('lxc', ['query', '/1.0'])).stdout).environment.server_name as string;
      const status = await rig(['status', '--name', name, '--json']);
      const nodes = JSON.parse(status.stdout)[0].nodes as Array<{ fqdn: string; member?: string }>;
      expect(nodes.map((n) => [n.fqdn, n.member])).toEqual([
        ['box.lab.test', server],
        ['dock.lab.test', undefined], // a Docker node is on this host: no member
      ]);
      const table = (await rig(['status', '--name', name])).stdout.split('\n');
      expect(table[1]).toMatch(/^NODE\s+IP\s+MIRRORS\s+MEMBER\s+STAGE/);
      expect(table.find((l) => l.startsWith('box.lab.test'))).toContain(` ${server} `);
      const record = JSON.parse(readFileSync(join(CACHE, 'lxd-places', `${name}.json`), 'utf8'));
      expect(record).toEqual({ project: 'default', nodes: { [(await rigInstances(name))[0].name]: 'box.lab.test' } }); // this host's daemon
      const down = await rig(['down', '--name', name]);
      expect(down.exitCode, down.all).toBe(0);
      await nothingMade(name, () => rigInstances(name));
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });
});

describe('lxd: on a three-member LXD cluster, over HTTPS as a remote of the lxc client', () => {
  // this file's own test cluster (files may run side by side); the CLI is not told the members see this host's
  // files; remote gone has no member at its address
  const cluster = useTestCluster('rplc', undefined, root, { sharedFiles: false, remotes: { gone: 'https://100.64.77.199:8443' } });
  const { fromMember, lxdRoot } = cluster;
  const client = () => cluster.client();

  /** `rig up` of a rig file from inside member m2's network namespace (the cluster's network), with this lxc config. */
  const upFromMember = async (name: string, lxd: string[], node: string[] = []) => {
    const fixture = fixtureDir(
      [`name: ${name}`, 'domain: lab.test', 'backend: lxd', ...lxd, 'nodes:', '  a.lab.test:', ...node, '  b.lab.test: {}', ''].join('\n'),
    );
    try {
      const run = await fromMember(['up', fixture.file], { cwd: fixture.dir, timeout: 120_000 });
      await nothingMade(name, () => cluster.rigInstances(name));
      return { exitCode: run.exitCode, all: run.all.replaceAll(fixture.file, 'rig.yaml') };
    } finally {
      fixture.cleanup();
    }
  };

  it('has three members online, each answering over HTTPS', async () => {
    expect((await client().members()).map((m) => [m.server_name, m.status])).toEqual(['m1', 'm2', 'm3'].map((m) => [m, 'Online']));
  });

  it('refuses a target that is not a member, naming the members, with nothing made on any member', async () => {
    const up = await upFromMember(uniqueName('clutg'), ['lxd:', '  remote: clu'], ['    lxd: { target: m9 }']);
    expect(up.exitCode, up.all).toBe(2);
    expect(up.all).toContain(
      'rig.yaml:8: lxd.target: m9 is not a member of the cluster at https://100.64.77.101:8443 (remote clu) (its members: m1, m2, m3).',
    );
    expect(up.all).toContain('name one of its online members (m1, m2, m3)');
  });

  it('refuses a project the cluster does not have, with nothing made', async () => {
    const up = await upFromMember(uniqueName('clupj'), ['lxd:', '  remote: clu', '  project: nosuchproject']);
    expect(up.exitCode, up.all).toBe(2);
    expect(up.all).toContain(
      'rig.yaml:6: lxd.project: the LXD at https://100.64.77.101:8443 (remote clu) has no project nosuchproject (it has default).',
    );
  });

  it('refuses a remote that does not answer, at the line of remote:, with nothing made', async () => {
    const up = await upFromMember(uniqueName('clugo'), ['lxd:', '  remote: gone', '  target: m1']);
    expect(up.exitCode, up.all).toBe(2);
    expect(up.all).toContain('rig.yaml:5: lxd.remote: no LXD answers at https://100.64.77.199:8443 (remote gone): ');
  });

  it("refuses, for now, to bring nodes up on a cluster reached as a remote when nothing says its members see this host's files, with nothing made", async () => {
    const up = await upFromMember(uniqueName('cluup'), ['lxd:', '  remote: clu']);
    expect(up.exitCode, up.all).toBe(2);
    expect(up.all).toContain(
      "rig.yaml:5: lxd.remote: rig can bring a rig up on https://100.64.77.101:8443 (remote clu) only where its members see this host's files",
    );
    expect(up.all).toContain('set RIG_LXD_SHARED_FILES=1');
    expect(up.all).toContain('rig up --dry-run shows where the nodes would go');
  });

  it('places nodes over the members, the fewest rig instances first, a target where it says, the same every time', async () => {
    const name = uniqueName('clupl');
    const others = ['a', 'b'].map((x) => `rig-${name}-other-${x}`);
    const fixture = fixtureDir(
      [
        `name: ${name}`,
        'domain: lab.test',
        'backend: lxd',
        'lxd: { remote: clu }',
        'nodes:',
        '  pin.lab.test: { lxd: { target: m1 } }',
        ...[1, 2, 3, 4, 5, 6].map((i) => `  n${i}.lab.test: {}`),
        '',
      ].join('\n'),
    );
    try {
      // the load up finds: two instances of another rig on m1 (no root filesystem, never started)
      for (const other of others) {
        const marks = nodeMarks({
          rig: `${name}-other`,
          node: `${other}.lab.test`,
          roles: [],
          validate: [],
          update: [],
          links: [],
          systemd: false,
        });
        await client().operate('POST', '/1.0/instances?target=m1', `create ${other}`, {
          name: other,
          type: 'container',
          source: { type: 'none' },
          config: marks,
        });
      }
      const members = async () => {
        const dry = await fromMember(['up', '--dry-run', '--json', fixture.file], { cwd: fixture.dir });
        expect(dry.exitCode, dry.all).toBe(0);
        const nodes = (JSON.parse(dry.stdout) as { nodes: Array<{ fqdn: string; member?: string }> }).nodes;
        return Object.fromEntries(nodes.map((n) => [n.fqdn, n.member]));
      };
      const placed = await members();
      expect(placed['pin.lab.test']).toBe('m1');
      const count = (m: string) => Object.values(placed).filter((p) => p === m).length;
      expect([count('m1'), count('m2'), count('m3')]).toEqual([1, 3, 3]); // m1 had 2 and the pinned one: the rest elsewhere
      expect(await members()).toEqual(placed);
      const text = await fromMember(['up', '--dry-run', fixture.file], { cwd: fixture.dir });
      expect(text.all).toContain('lxd on member m1, image');
      await nothingMade(name, () => cluster.rigInstances(name));
    } finally {
      for (const other of others) await client().deleteInstance(other);
      fixture.cleanup();
    }
  });

  // Last: it takes member m3 away for the rest of the file (lxd-test-cluster down removes what is left).
  it("a member lost mid-rig: down removes the nodes on the others, names the one on the lost member, and keeps the rig's place", async () => {
    const name = uniqueName('clulo');
    const place = join(CACHE, 'lxd-places', `${name}.json`);
    try {
      // What an up across the members left, as LXD has it: a node on each member carrying rig's marks (instances
      // with no root filesystem, never started: where they are is what matters), and the place up recorded.
      for (const member of ['m1', 'm2', 'm3']) {
        const marks = nodeMarks({ rig: name, node: `n${member}.lab.test`, roles: [], validate: [], update: [], links: [], systemd: false });
        const body = { name: `rig-${name}-${member}`, type: 'container', source: { type: 'none' }, config: marks };
        await client().operate('POST', `/1.0/instances?target=${member}`, `create on ${member}`, body);
      }
      mkdirSync(join(CACHE, 'lxd-places'), { recursive: true });
      const nodes = Object.fromEntries(['m1', 'm2', 'm3'].map((m) => [`rig-${name}-${m}`, `n${m}.lab.test`]));
      writeFileSync(place, JSON.stringify({ remote: 'clu', lxcConf: cluster.lxcConf(), nodes }));
      const daemon = readFileSync(join(lxdRoot, 'm3', 'lxd.pid'), 'utf8').trim();
      expect(readFileSync(`/proc/${daemon}/comm`, 'utf8').trim()).toBe('lxd'); // the daemon the script started for m3
      process.kill(Number(daemon), 'SIGKILL');
      expect(
        await eventually(async () => (await client().members()).find((m) => m.server_name === 'm3')?.status === 'Offline', 90_000),
      ).toBe(true);

      const down = await fromMember(['down', '--name', name], { timeout: 120_000 });
      expect(down.exitCode, down.all).toBe(1);
      expect(down.all).toContain(
        `rig could not remove 1 LXD node of rig ${name}: nm3.lab.test (instance rig-${name}-m3 on m3: its member m3 is offline); the rest is removed.`,
      );
      expect(down.all).toContain(`run rig down --name ${name} again once m3 is back`);
      // LXD lists the one left with no config (so no marks) while its member is offline
      const left = (await client().instances()).filter((i) => i.name.startsWith(`rig-${name}-`));
      expect(left.map((i) => [i.name, i.location, i.status])).toEqual([[`rig-${name}-m3`, 'm3', 'Error']]);
      expect(existsSync(place)).toBe(true); // so that down, once m3 is back, finds it
    } finally {
      rmSync(place, { force: true });
    }
  });
});
