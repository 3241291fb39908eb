import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { fixtureDir, leftovers, queryA, rig, uniqueName } from './helpers.js';

/** The response code of a DNS query for name's A records from the host (3: NXDOMAIN), and how long it took. */
async function rcodeOf(server: string, name: string): Promise<number> {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const query = Buffer.concat([Buffer.from([0x43, 0x21, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  const socket = createSocket('udp4');
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DNS answer from ${server} for ${name}`)), 3000);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg[3] & 0x0f);
      });
      socket.send(query, 53, server);
    });
  } finally {
    socket.close();
  }
}

describe('live names inside a rig', () => {
  const name = uniqueName('live');
  // Two nodes mirror one live node (each answers for it), one mirrors another in a second live domain.
  const fixture = fixtureDir(`name: ${name}
domain: village.test
network:
  internal: true
  forward: [ntp.prod.example]
configs: []
nodes:
  barn.village.test: straleb.prod.example
  byre.village.test: straleb.prod.example
  mill.village.test: kelda.dc2.example
`);
  let status: { dns: string; nodes: Array<{ fqdn: string; ip: string }> };
  const addressOf = (short: string) => status.nodes.find((n) => n.fqdn.startsWith(`${short}.`))!.ip;
  const inMill = (...command: string[]) => rig(['exec', 'mill', '--name', name, '--', ...command]);

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    status = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('resolves a live FQDN to every node that mirrors it, from the host', async () => {
    expect((await queryA(status.dns, 'straleb.prod.example')).sort()).toEqual([addressOf('barn'), addressOf('byre')].sort());
    expect(await queryA(status.dns, 'kelda.dc2.example')).toEqual([addressOf('mill')]);
  });

  it('resolves live FQDNs and short names inside a node, and keeps the made-up name in reverse', async () => {
    const full = await inMill('getent', 'ahostsv4', 'straleb.prod.example');
    expect(full.exitCode, full.all).toBe(0);
    expect(new Set(full.stdout.split('\n').map((l) => l.split(/\s+/)[0]))).toEqual(new Set([addressOf('barn'), addressOf('byre')]));
    const short = await inMill('getent', 'hosts', 'kelda');
    expect(short.stdout).toMatch(new RegExp(`^${addressOf('mill').replaceAll('.', '\\.')}\\s`));
    const reverse = await inMill('getent', 'hosts', addressOf('barn'));
    expect(reverse.stdout).toMatch(/\sbarn\.village\.test/);
    const resolv = await inMill('cat', '/etc/resolv.conf');
    expect(resolv.stdout).toContain('search village.test prod.example dc2.example');
  });

  it('answers any other name under a live domain with NXDOMAIN at once, forwarding nothing', async () => {
    for (const other of ['db.prod.example', 'kelda.prod.example', 'x.dc2.example']) expect(await rcodeOf(status.dns, other), other).toBe(3);
    // A name the rig file lets through is not answered locally (this internal rig has nowhere to send it).
    expect(await rcodeOf(status.dns, 'ntp.prod.example')).not.toBe(3);
    const node = await inMill('getent', 'hosts', 'db.prod.example');
    expect(node.exitCode).toBe(2); // not found
  });
});

describe('rig check: the live names the config trees name', () => {
  const name = uniqueName('check');
  const rigFile = `name: ${name}
domain: village.test
network:
  internal: true
  forward: [ntp.prod.example]
configs:
  - dir: hieradata/nodes
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test: kelda.prod.example
`;

  it('maps each to the rig node that answers for it, or says it is not in the rig; up warns and goes on', async () => {
    const fixture = fixtureDir(rigFile);
    const { appendFileSync, writeFileSync } = await import('node:fs');
    appendFileSync(
      `${fixture.dir}/hieradata/nodes/kelda.prod.example.yaml`,
      'profile::db::host: db1.prod.example\nprofile::time::server: ntp.prod.example\n',
    );
    writeFileSync(
      `${fixture.dir}/hieradata/nodes/common.yaml`,
      'monitoring: "mon.prod.example:9100"\nupstream: straleb.prod.example\nunrelated: www.example.org\n',
    );
    try {
      const check = await rig(['check', 'rig.yaml', '--json'], { cwd: fixture.dir });
      expect(check.exitCode, check.all).toBe(0);
      const names = JSON.parse(check.stdout) as Array<{ name: string; mirroredBy: string[]; forwarded: boolean; places: string[] }>;
      const byName = Object.fromEntries(names.map((n) => [n.name, n]));
      expect(Object.keys(byName)).toEqual(
        expect.arrayContaining(['db1.prod.example', 'mon.prod.example', 'ntp.prod.example', 'straleb.prod.example']),
      );
      expect(byName['www.example.org']).toBeUndefined();
      expect(byName['straleb.prod.example'].mirroredBy).toEqual(['barn.village.test']);
      expect(byName['straleb.prod.example'].places).toContain('hieradata/nodes/common.yaml:2');
      expect(byName['db1.prod.example']).toMatchObject({ mirroredBy: [], forwarded: false });
      expect(byName['ntp.prod.example']).toMatchObject({ mirroredBy: [], forwarded: true });
      const table = await rig(['check', 'rig.yaml'], { cwd: fixture.dir });
      expect(table.stdout).toMatch(/db1\.prod\.example\s+not in the rig\s+hieradata\/nodes\/kelda\.prod\.example\.yaml:\d+/);
      expect(table.stdout).toContain('2 live names not in the rig');
      expect(await leftovers(name)).toEqual([]); // check makes nothing

      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
      expect(up.stderr).toContain('rig: warning: db1.prod.example (named in hieradata/nodes/kelda.prod.example.yaml:');
      expect(up.stderr).toContain('rig: warning: mon.prod.example');
      expect(up.stderr).not.toContain('warning: ntp.prod.example');
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
    expect(await leftovers(name)).toEqual([]);
  });
});
