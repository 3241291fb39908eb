import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, fixtureDir, leftovers, rig, uniqueName, useRig } from './helpers.js';

// Issue 21, items 7, 10 and 13: what `rig up` says of a rig of that name made from another file, of a missing
// node image and of a change to the rig itself, and what `rig up --dry-run` prints.

const upRigFile = (name: string) => `name: ${name}
domain: village.test
network: { internal: true }
configs:
  - dir: hieradata/nodes
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test: kelda.prod.example
`;

describe('rig up of a rig that is up', () => {
  const r = useRig('upmsg', upRigFile, {
    // Another rig file, in the same directory, that someone brings up under the name of the rig that is up.
    'other.yaml': 'domain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  well.village.test:\n',
  });
  const file = () => join(r.dir, 'rig.yaml');
  const ids = async () => (await docker(['ps', '-aq', '--no-trunc', '--filter', `label=io.rig.rig=${r.name}`])).split('\n').sort();
  /** Run `up` of the rig file edited by `edit`, then put the rig file back as it was. */
  async function withEdited<T>(edit: (text: string) => string, run: () => Promise<T>): Promise<T> {
    const original = readFileSync(file(), 'utf8');
    writeFileSync(file(), edit(original));
    try {
      return await run();
    } finally {
      writeFileSync(file(), original);
    }
  }

  it('refuses a rig file other than the one it came from, naming that file, even with --recreate (item 7)', async () => {
    const before = await ids();
    for (const extra of [[], ['--recreate'], ['--dry-run']]) {
      const other = await rig(['up', 'other.yaml', '--name', r.name, ...extra], { cwd: r.dir });
      expect(other.exitCode, other.all).toBe(2);
      expect(other.stderr).toContain(`Rig ${r.name} is up, brought up from another rig file: ${file()}`);
      expect(other.stderr).toContain(`rig down --name ${r.name}`);
      expect(other.stderr).not.toMatch(/fix:.*rig up \S+ --recreate/); // no advice that would remove someone's rig
      expect(other.stderr).not.toMatch(/\+ well\.village\.test|- barn\.village\.test/); // no plan to replace it
    }
    expect(await ids()).toEqual(before); // untouched
  });

  it('says which rig-wide settings changed, from what to what, and refuses (item 10)', async () => {
    const before = await ids();
    const edit = (text: string) =>
      text.replace('network: { internal: true }', 'network: { internal: true, pool: 10.214.0.0/16, forward: [ntp.prod.example] }');
    const refused = await withEdited(edit, () => rig(['up', 'rig.yaml'], { cwd: r.dir }));
    expect(refused.exitCode, refused.all).toBe(2);
    expect(refused.stderr).toContain('~ the rig: network.pool 10.213.0.0/16 -> 10.214.0.0/16; network.forward + ntp.prod.example');
    expect(refused.stderr).toContain(
      'The rig itself changed (network.pool 10.213.0.0/16 -> 10.214.0.0/16; network.forward + ntp.prod.example): that is a new rig.',
    );
    expect(refused.stderr).not.toContain('domain, network, config trees or production facts');
    expect(refused.stderr).toContain('--recreate');
    expect(await ids()).toEqual(before);
  });

  it('names a config tree that changed, relative to the rig file', async () => {
    const edit = (text: string) => text.replace('  - dir: hieradata/nodes\n', '  - dir: hieradata/nodes\n    file: "{node}.yml"\n');
    const refused = await withEdited(edit, () => rig(['up', 'rig.yaml'], { cwd: r.dir }));
    expect(refused.exitCode, refused.all).toBe(2);
    expect(refused.stderr).toContain('~ the rig: configs + hieradata/nodes/{node}.yml, - hieradata/nodes/{node}.yaml');
  });

  it('--dry-run of the same rig file says there is nothing to do, touching nothing (item 13)', async () => {
    const before = await ids();
    const same = await rig(['up', 'rig.yaml', '--dry-run'], { cwd: r.dir });
    expect(same.exitCode, same.all).toBe(0);
    expect(same.stdout).toContain(`rig ${r.name} is up and matches rig.yaml: rig up would do nothing`);
    expect(await ids()).toEqual(before);
  });

  it('--dry-run of an edited rig file shows what a reconcile would do, touching nothing (item 13)', async () => {
    const before = await ids();
    const edit = (text: string) => `${text}  silo.village.test:\n    mirrors: hobb.prod.example\n    needs: [barn]\n`;
    const [plan, json] = await withEdited(edit, async () => [
      await rig(['up', 'rig.yaml', '--dry-run'], { cwd: r.dir }),
      await rig(['up', 'rig.yaml', '--dry-run', '--json'], { cwd: r.dir }),
    ]);
    expect(plan.exitCode, plan.all).toBe(0);
    expect(plan.stdout).toContain(`rig ${r.name} is up; rig up would change only this (a reconcile):`);
    expect(plan.stdout).toContain('+ silo.village.test (new)');
    expect(plan.stdout).toContain('= 2 nodes unchanged');
    expect(plan.stdout).toMatch(/silo\.village\.test\s.*\n\s+mirrors hobb\.prod\.example/);
    expect(plan.stdout).toContain('needs barn.village.test (ready)');
    expect(plan.stdout).toContain('hieradata/nodes/silo.village.test.yaml -> hobb.prod.example.yaml');
    expect(json.exitCode, json.all).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed).toMatchObject({ name: r.name, up: true, action: 'reconcile', diff: { added: ['silo.village.test'] } });
    expect(parsed.nodes.map((n: { fqdn: string; name: string }) => [n.fqdn, n.name])).toEqual([['silo.village.test', 'silo']]);
    // Nothing was touched: no container, no link, no lock.
    expect(await ids()).toEqual(before);
    expect(existsSync(join(r.dir, 'hieradata/nodes/silo.village.test.yaml'))).toBe(false);
  });
});

describe('a node image that is not in the engine (item 10)', () => {
  it("is reported at the line of each node that uses it, with the rig file's path", async () => {
    const name = uniqueName('noimg');
    const fixture = fixtureDir(`name: ${name}
domain: village.test
network: { internal: true }
configs: []
nodes:
  barn.village.test:
  mill.village.test:
    image: rigtest-no-such-image:1
  well.village.test:
    image: rigtest-no-such-image:1
  silo.village.test: { image: "rigtest-no-such-image:2" }
`);
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(2);
      expect(up.stderr).toContain('rig: 2 node images are not in the Docker engine, and rig uses no registry:');
      expect(up.stderr).toContain(`${fixture.file}:7: node mill.village.test: image rigtest-no-such-image:1`);
      expect(up.stderr).toContain(`${fixture.file}:9: node well.village.test: image rigtest-no-such-image:1`);
      expect(up.stderr).toContain(`${fixture.file}:11: node silo.village.test: image rigtest-no-such-image:2`);
      expect(up.stderr).not.toContain('barn.village.test');
      expect(up.stderr).toContain('fix: build or load the images first');
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });
});

describe('rig up --dry-run of a rig that is not up (item 13)', () => {
  const name = uniqueName('dry');
  const text = `name: ${name}
domain: village.test
network: { internal: true, subnet: 10.213.250.0/24 }
configs:
  - dir: hieradata/nodes
provision:
  - shell: echo hello from the rig-wide step
validate: ['true']
nodes:
  well.village.test:
    mirrors: hobb.prod.example
    needs: [barn.redis_run_id, mill]
    roles: [app]
  barn.village.test:
    mirrors: straleb.prod.example
    facts: { colour: red }
  mill.village.test: kelda.prod.example
`;

  it('prints the plan a person reads: network, sidecar, symlinks and each node, needs first', async () => {
    const fixture = fixtureDir(text);
    try {
      const plan = await rig(['up', 'rig.yaml', '--dry-run'], { cwd: fixture.dir });
      expect(plan.exitCode, plan.all).toBe(0);
      const out = plan.stdout;
      expect(out.trimStart().startsWith('{')).toBe(false);
      expect(out.split('\n').length).toBeLessThan(60);
      expect(out).toContain(`rig up would make rig ${name}`);
      expect(out).toMatch(new RegExp(`network rig-${name}: 10\\.213\\.250\\.0/24, internal`));
      expect(out).toMatch(new RegExp(`sidecar rig-${name}\\.sidecar: DNS and DHCP at 10\\.213\\.250\\.2, etcd at 10\\.213\\.250\\.3`));
      expect(out).toContain('hieradata/nodes/barn.village.test.yaml -> straleb.prod.example.yaml');
      expect(out).toContain('hieradata/nodes/well.village.test.yaml -> hobb.prod.example.yaml');
      // Start order: what a node needs comes before it.
      const at = (node: string) => out.search(new RegExp(`^  ${node}\\.village\\.test `, 'm'));
      expect(at('barn')).toBeGreaterThan(0);
      expect(at('barn')).toBeLessThan(at('well'));
      expect(at('mill')).toBeLessThan(at('well'));
      const well = out.slice(at('well'));
      expect(well).toContain(`rig-${name}.well`);
      expect(well).toContain('mirrors hobb.prod.example');
      expect(well).toContain('docker, image rig:base, init rig, address 10.213.250.16');
      expect(well).toContain('needs barn.village.test (fact redis_run_id), mill.village.test (ready)');
      expect(well).toContain('roles app');
      expect(well).toContain('steps: shell: echo hello from the rig-wide step');
      expect(well).toContain('checks: true');
      expect(out.slice(at('barn'))).toContain('facts colour=red');
      // Nothing was made.
      expect(await leftovers(name)).toEqual([]);
      expect(existsSync(join(fixture.dir, 'hieradata/nodes/barn.village.test.yaml'))).toBe(false);
    } finally {
      fixture.cleanup();
    }
  });

  it('with --json, a JSON plan with each node once, in start order', async () => {
    const fixture = fixtureDir(text);
    try {
      const plan = await rig(['up', 'rig.yaml', '--dry-run', '--json'], { cwd: fixture.dir });
      expect(plan.exitCode, plan.all).toBe(0);
      const parsed = JSON.parse(plan.stdout);
      expect(parsed).toMatchObject({
        name,
        up: false,
        action: 'create',
        network: { name: `rig-${name}`, subnet: '10.213.250.0/24', internal: true },
        sidecar: { container: `rig-${name}.sidecar`, dns: '10.213.250.2', etcd: '10.213.250.3' },
      });
      expect(parsed.spec).toBeUndefined();
      expect(parsed.nodes.map((n: { fqdn: string }) => n.fqdn)).toEqual(['barn.village.test', 'mill.village.test', 'well.village.test']);
      expect(parsed.nodes[2]).toMatchObject({ container: `rig-${name}.well`, ip: '10.213.250.16', mirrors: 'hobb.prod.example' });
      // Each node's settings once: the rig-wide step is in each of the three nodes, and nowhere else.
      expect(plan.stdout.split('echo hello from the rig-wide step')).toHaveLength(4);
      expect(plan.stdout.split('\n').length).toBeLessThan(200);
    } finally {
      fixture.cleanup();
    }
  });

  it('gives the address slot in the /24 up picks when the rig file names no subnet', async () => {
    const fixture = fixtureDir(text.replace(', subnet: 10.213.250.0/24', ''));
    try {
      const plan = await rig(['up', 'rig.yaml', '--dry-run'], { cwd: fixture.dir });
      expect(plan.exitCode, plan.all).toBe(0);
      expect(plan.stdout).toMatch(new RegExp(`network rig-${name}: a free /24 of 10\\.213\\.0\\.0/16, internal`));
      expect(plan.stdout).toContain('address .16 of the subnet');
      expect(plan.stdout).toContain('DNS and DHCP at .2, etcd at .3');
    } finally {
      fixture.cleanup();
    }
  });
});
