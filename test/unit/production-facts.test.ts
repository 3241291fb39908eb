import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRigFile } from '../../src/rigfile/load.js';
import { readProductionFacts } from '../../src/rigfile/production-facts.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function factsFor(exported: string, file = 'live.prod.example.json') {
  const dir = mkdtempSync(join(tmpdir(), 'rig-pfacts-'));
  dirs.push(dir);
  writeFileSync(join(dir, file), exported);
  const spec = parseRigFile(
    'name: p\nfacts_from: { dir: . }\nnodes:\n  a.p.test: live.prod.example\n  b.p.test: other.prod.example\n',
    join(dir, 'rig.yaml'),
  );
  return readProductionFacts(spec);
}

describe('production facts', () => {
  const expected = { role: 'db', location: '{"dc":"ams"}', uptime_days: '12' };

  it('reads puppet facts show, puppet facts find and PuppetDB exports alike', () => {
    const show = { role: 'db', location: { dc: 'ams' }, uptime_days: 12 };
    expect(factsFor(JSON.stringify(show)).facts.get('a.p.test')).toEqual(expected);
    expect(factsFor(JSON.stringify({ name: 'live.prod.example', values: show })).facts.get('a.p.test')).toEqual(expected);
    const pdb = Object.entries(show).map(([name, value]) => ({ certname: 'live.prod.example', name, value }));
    expect(factsFor(JSON.stringify(pdb)).facts.get('a.p.test')).toEqual(expected);
    expect(factsFor('role: db\nlocation: { dc: ams }\nuptime_days: 12\n').facts.get('a.p.test')).toEqual(expected);
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
});
