import { describe, expect, it } from 'vitest';
import { fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

/** Bring nothing up: each of these must fail at load with exit 2, at file:line, with nothing made. */
async function refused(name: string, rigFile: string) {
  const fixture = fixtureDir(rigFile);
  try {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(2);
    expect(await leftovers(name)).toEqual([]);
    return up.stderr;
  } finally {
    fixture.cleanup();
  }
}

describe('bad input is refused at load, before anything is made', () => {
  it('more nodes than the subnet has leases: exit 2 with the numbers', async () => {
    const name = uniqueName('cap');
    const nodes = Array.from({ length: 50 }, (_, i) => `  n${i}.cap.test:`).join('\n');
    const stderr = await refused(
      name,
      `name: ${name}\nnetwork:\n  subnet: 10.213.200.0/26\n  internal: true\nconfigs: []\nnodes:\n${nodes}\n`,
    );
    expect(stderr).toContain('rig.yaml:3:11: network.subnet: 50 nodes, but network.subnet 10.213.200.0/26 offers only 47 DHCP leases');
  });

  it('a /27 or /28 subnet, which the address plan cannot hold', async () => {
    const name = uniqueName('small');
    const stderr = await refused(
      name,
      `name: ${name}\nnetwork:\n  subnet: 10.213.200.0/28\n  internal: true\nconfigs: []\nnodes:\n  a.small.test:\n`,
    );
    expect(stderr).toContain('rig.yaml:3:11: network.subnet: prefix /28 is out of range');
  });

  it('an alias bomb used as a fact: exit 2 at once', async () => {
    const name = uniqueName('bomb');
    const levels = Array.from({ length: 9 }, (_, i) => `  l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(', ')}]`).join('\n');
    const stderr = await refused(
      name,
      `name: ${name}\nnetwork: { internal: true }\nconfigs: []\nfacts:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n${levels}\nnodes:\n  a.bomb.test:\n`,
    );
    expect(stderr).toContain('rig.yaml:1:1: the rig file expands to more than 100000 values');
  });

  it('a 200 KB fact: exit 2 at its key', async () => {
    const name = uniqueName('fat');
    const stderr = await refused(
      name,
      `name: ${name}\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.fat.test:\n    facts:\n      blob: ${'x'.repeat(200 * 1024)}\n`,
    );
    expect(stderr).toContain('rig.yaml:7:7: nodes["a.fat.test"].facts.blob: the value is 200 KiB; a fact may hold at most 16 KiB');
  });

  it('node keys YAML reads as numbers: exit 2 naming each as written', async () => {
    const name = uniqueName('keys');
    const stderr = await refused(
      name,
      `name: ${name}\ndomain: keys.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  0x1f:\n  1e3:\n`,
    );
    expect(stderr).toContain('rig.yaml:6:3: nodes["31"]: YAML reads the key 0x1f as the number 31, not as the name 0x1f');
    expect(stderr).toContain('rig.yaml:7:3: nodes["1000"]: YAML reads the key 1e3 as the number 1000, not as the name 1e3');
  });
});

describe('down of a rig that is not up', () => {
  it('exits 2, says so, and claims nothing was removed', async () => {
    const down = await rig(['down', '--name', uniqueName('nosuch')]);
    expect(down.exitCode, down.all).toBe(2);
    expect(down.stderr).toMatch(/No rig named nosuch-\S+ is up, so nothing was removed/);
    expect(down.stdout).not.toContain('removed');
  });
});

describe('network facts as Facter has them', () => {
  it('publishes netmask dotted and its length', async () => {
    const name = uniqueName('mask');
    const fixture = fixtureDir(
      `name: ${name}\nnetwork:\n  subnet: 10.213.201.0/25\n  internal: true\nconfigs: []\nnodes:\n  a.mask.test:\n`,
    );
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode, up.all).toBe(0);
      const facts = JSON.parse((await rig(['facts', 'a', '--name', name, '--json'])).stdout);
      expect(facts).toMatchObject({ netmask: '255.255.255.128', netmask_length: '25' });
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
    expect(await leftovers(name)).toEqual([]);
  });
});
