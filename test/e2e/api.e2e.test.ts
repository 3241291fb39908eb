import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up, type Rig } from 'rig';
import { fixtureDir, leftovers, uniqueName } from './helpers.js';

// The README's example ("A typed API for test suites"), as written there, on a rig of its own.
describe('rig as a library', () => {
  const name = uniqueName('api');
  const fixture = fixtureDir(`name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n    mirrors: straleb.prod.example\n    provision:\n      - shell: sleep 1; rig-fact set redis_role master\n  mill.village.test:\n`);
  const rigFile = fixture.file;

  // --- as in the README ---
  let rig: Rig;
  beforeAll(async () => {
    rig = await up(rigFile, { name });
  });
  afterAll(() => rig.down());

  it('finds the master by the fact it publishes', async () => {
    const barn = rig.node('barn');
    expect(await barn.waitFor('redis_role')).toBe('master');
    const { exitCode, output } = await rig.node('mill').exec(['getent', 'hosts', 'straleb.prod.example']);
    expect(exitCode).toBe(0);
    expect(output).toContain(barn.ip);
  });
  // --- end of the README's example ---

  it('gives each node its address, names and facts', async () => {
    expect(rig.name).toBe(name);
    expect(rig.nodes.map((n) => [n.name, n.fqdn, n.mirrors])).toEqual([
      ['barn', 'barn.village.test', 'straleb.prod.example'],
      ['mill', 'mill.village.test', undefined],
    ]);
    expect((await rig.node('mill.village.test').facts()).ipaddress).toBe(rig.node('mill').ip);
    await expect(rig.node('mill').waitFor('never_published', 500)).rejects.toThrow(/did not publish never_published/);
    expect(() => rig.node('nosuch')).toThrow(/No node nosuch/);
  });

  it('takes the rig down with Symbol.asyncDispose (await using), leaving nothing', async () => {
    await rig[Symbol.asyncDispose]();
    expect(await leftovers(name)).toEqual([]);
    fixture.cleanup();
  });
});
