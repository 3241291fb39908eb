import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRigFile } from '../../src/rigfile/load.js';
import { readProductionFacts } from '../../src/rigfile/production-facts.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function factsFor(exported: string, file = 'live.prod.example.json', factsFrom = '{ dir: . }') {
  const dir = mkdtempSync(join(tmpdir(), 'rig-pfacts-'));
  dirs.push(dir);
  writeFileSync(join(dir, file), exported);
  const spec = parseRigFile(
    `name: p\nfacts_from: ${factsFrom}\nnodes:\n  a.p.test: live.prod.example\n  b.p.test: other.prod.example\n`,
    join(dir, 'rig.yaml'),
  );
  return readProductionFacts(spec);
}

describe('production facts', () => {
  const expected = { role: 'db', location: '{"dc":"ams"}', timezone: 'UTC' };

  it('reads puppet facts show, puppet facts find and PuppetDB exports alike', () => {
    const show = { role: 'db', location: { dc: 'ams' }, timezone: 'UTC' };
    expect(factsFor(JSON.stringify(show)).facts.get('a.p.test')).toEqual(expected);
    expect(factsFor(JSON.stringify({ name: 'live.prod.example', values: show })).facts.get('a.p.test')).toEqual(expected);
    const pdb = Object.entries(show).map(([name, value]) => ({ certname: 'live.prod.example', name, value }));
    expect(factsFor(JSON.stringify(pdb)).facts.get('a.p.test')).toEqual(expected);
    expect(factsFor('role: db\nlocation: { dc: ams }\ntimezone: UTC\n').facts.get('a.p.test')).toEqual(expected);
  });

  it("never takes the machine's own facts from production", () => {
    const exported = {
      role: 'db',
      hostname: 'live',
      fqdn: 'live.prod.example',
      ipaddress: '192.0.2.1',
      ipaddress_eth0: '192.0.2.1',
      networking: {},
      os: {},
      rig: 'x',
    };
    expect(factsFor(JSON.stringify(exported)).facts.get('a.p.test')).toEqual({ role: 'db' });
  });

  it('warns of a live node with no export, and names the file and line of one that does not parse', () => {
    expect(factsFor('{}').warnings).toEqual([expect.stringContaining('no production facts for other.prod.example')]);
    expect(() => factsFor('{\n  "role": "db",\n  ]\n')).toThrow(
      /live\.prod\.example\.json:3:\d+: production facts are not valid JSON or YAML/,
    );
  });

  // A production machine far bigger than this host: 1 TiB and 512 processors, in Facter 4's and the legacy shapes.
  const big = {
    role: 'db',
    memory: { system: { total: '1.00 TiB', total_bytes: 2 ** 40 } },
    memorysize: '1.00 TiB',
    memorysize_mb: 2 ** 20,
    processors: { count: 512, models: ['Xeon'] },
    processorcount: 512,
    disks: { sda: { size: '2 TiB' } },
    uptime_days: 400,
    virtual: 'physical',
  };

  it("keeps the node's own hardware facts (memory, processors, disks, uptime) unless the rig file takes production's", () => {
    const own = factsFor(JSON.stringify(big));
    expect(own.facts.get('a.p.test')).toEqual({ role: 'db' });
    expect(own.warnings.filter((w) => w.includes('memory') || w.includes('processors'))).toEqual([]);
  });

  it('takes them with hardware: true, and warns where production is far above what the node has', () => {
    const taken = factsFor(JSON.stringify(big), undefined, '{ dir: ., hardware: true }');
    expect(taken.facts.get('a.p.test')).toMatchObject({ memorysize: '1.00 TiB', processorcount: '512', virtual: 'physical' });
    expect(taken.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^live\.prod\.example's memory \(1024\.0 GiB\) is \d+x what a\.p\.test has here/),
        expect.stringMatching(/^live\.prod\.example has 512 processors, a\.p\.test has \d+ here/),
      ]),
    );
    const small = { memorysize_mb: 512, processorcount: 1 };
    expect(
      factsFor(JSON.stringify(small), undefined, '{ dir: ., hardware: true }').warnings.filter((w) => !w.includes('other.prod')),
    ).toEqual([]);
  });
});
