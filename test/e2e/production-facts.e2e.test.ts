import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

/**
 * A control repo keyed on production facts, as production is: Hiera levels by datacentre and role, which only
 * the live nodes' exported facts give. Nothing rig-specific in it.
 */
function controlRepo(dir: string): void {
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write(
    'repo/hiera.yaml',
    [
      'version: 5',
      'defaults: { datadir: data, data_hash: yaml_data }',
      'hierarchy:',
      '  - { name: role, path: "role/%{facts.role}.yaml" }',
      '  - { name: location, path: "dc/%{facts.location.dc}.yaml" }',
      '',
    ].join('\n'),
  );
  write('repo/data/role/cache.yaml', 'motd: "a cache"\n');
  write('repo/data/dc/ams.yaml', 'ntp: ntp.ams.prod.example\n');
  write(
    'repo/manifests/site.pp',
    [
      "file { \"/tmp/from-hiera\": content => \"${lookup('motd')} in ${lookup('ntp')} (os ${facts['os']['family']}, ip ${facts['networking']['ip']}, mirrors ${facts['mirrors']}, memory ${facts['memory']['system']['total_bytes']}, processors ${facts['processors']['count']})\\n\" }",
      '',
    ].join('\n'),
  );
}

describe('production facts', () => {
  const name = uniqueName('pfacts');
  const fixture = fixtureDir(`name: ${name}
domain: village.test
network: { internal: true }
configs: []
facts_from:
  dir: facts
  file: "{node}.json"
nodes:
  barn.village.test:
    mirrors: straleb.prod.example
    image: rig:puppet
    provision:
      - puppet:
          manifest: repo/manifests/site.pp
          hiera_config: repo/hiera.yaml
  mill.village.test:
    mirrors: kelda.prod.example
`);
  let up: Awaited<ReturnType<typeof rig>>;

  beforeAll(async () => {
    controlRepo(fixture.dir);
    mkdirSync(join(fixture.dir, 'facts'));
    // puppet facts show's shape, with facts of the machine that rig's own must win over.
    writeFileSync(
      join(fixture.dir, 'facts/straleb.prod.example.json'),
      JSON.stringify({
        role: 'cache',
        location: { dc: 'ams', rack: 'r12' },
        hostname: 'straleb',
        ipaddress: '192.0.2.10',
        networking: { ip: '192.0.2.10' },
        // production's machine, far bigger than the container: the node keeps its own hardware facts
        memory: { system: { total: '1.00 TiB', total_bytes: 2 ** 40 } },
        memorysize: '1.00 TiB',
        processors: { count: 512 },
        processorcount: 512,
      }),
    );
    up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('brings the rig up, warning of a live node with no exported facts', () => {
    expect(up.exitCode, up.all).toBe(0);
    expect(up.stderr).toContain('warning: no production facts for kelda.prod.example');
  });

  it("publishes them under rig's own facts", async () => {
    const facts = JSON.parse((await rig(['facts', 'barn', '--name', name, '--json'])).stdout);
    const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    expect(facts).toMatchObject({
      role: 'cache',
      location: '{"dc":"ams","rack":"r12"}',
      hostname: 'barn',
      ipaddress: status.nodes[0].ip,
    });
    expect(facts.networking).toBeUndefined();
    expect([facts.memory, facts.memorysize, facts.processors, facts.processorcount]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it("lets Hiera levels keyed on them resolve, through Facter, with Facter's own facts intact", async () => {
    const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    const out = await rig(['exec', 'barn', '--name', name, '--', 'cat', '/tmp/from-hiera']);
    expect(out.stdout.trim()).toBe(
      `a cache in ntp.ams.prod.example (os Debian, ip ${status.nodes[0].ip}, mirrors straleb.prod.example, memory ${totalmem()}, processors ${cpus().length})`,
    );
  });
});

describe('production facts that are not JSON or YAML', () => {
  it('are exit 2, naming the file and line, before anything is made', async () => {
    const name = uniqueName('badfacts');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork: { internal: true }\nconfigs: []\nfacts_from: { dir: facts }\nnodes:\n  barn.village.test: straleb.prod.example\n`,
    );
    mkdirSync(join(fixture.dir, 'facts'));
    writeFileSync(join(fixture.dir, 'facts/straleb.prod.example.json'), '{\n  "role": "cache",\n  "location": {\n}}}\n');
    try {
      const bad = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(bad.exitCode, bad.all).toBe(2);
      expect(bad.stderr).toMatch(/facts\/straleb\.prod\.example\.json:4:\d+: production facts are not valid JSON or YAML/);
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });
});
