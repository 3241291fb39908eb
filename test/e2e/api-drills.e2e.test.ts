import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up, type Rig } from 'rig';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { fixtureDir, leftovers, uniqueName } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');

// The README's drill example ("Failure drills"), as written there, and the other drills of the API.
describe('failure drills through the API', () => {
  const name = uniqueName('api-drills');
  const fixture = fixtureDir(
    `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n  mill.village.test:\n`,
  );
  let rig: Rig;
  beforeAll(async () => {
    rig = await up(fixture.file, { name });
  });
  afterAll(async () => {
    await rig?.down();
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  // --- as in the README ---
  it('mill loses barn when it crashes, and finds it again', async () => {
    const ping = () => rig.node('mill').exec(['/.rig/bin/ping', '-c', '1', '-W', '2', 'barn']);
    await rig.kill('barn');
    expect((await ping()).exitCode).not.toBe(0);
    await rig.start('barn'); // resolves once barn is ready again
    expect((await ping()).exitCode).toBe(0);
  });
  // --- end of the README's example ---

  it("is the README's example, line for line", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /## Failure drills[^]*?```ts\n([^]*?)```/.exec(readme)?.[1];
    const here = /\/\/ --- as in the README ---\n([^]*?)\n {2}\/\/ --- end of the README's example ---/.exec(
      readFileSync(import.meta.filename, 'utf8'),
    )?.[1];
    const lines = (text = '', indent = '') =>
      text
        .split('\n')
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .filter(Boolean);
    expect(lines(example).length).toBeGreaterThan(4);
    expect(lines(here, '  ')).toEqual(lines(example));
  });

  it('partition and heal', async () => {
    const ping = () => rig.node('mill').exec(['/.rig/bin/ping', '-c', '1', '-W', '2', 'barn']);
    await rig.partition('barn', 'mill');
    expect((await ping()).exitCode).not.toBe(0);
    await rig.heal();
    expect((await ping()).exitCode).toBe(0);
  });

  it('replace with a new address: the node the test holds has it, and mill finds barn there', async () => {
    const before = rig.node('barn').ip;
    const after = await rig.replace('barn', { newAddress: true });
    expect(after).not.toBe(before);
    expect(rig.node('barn').ip).toBe(after);
    const { output } = await rig.node('mill').exec(['getent', 'hosts', 'barn']);
    expect(output).toContain(after);
  });

  it('pause cuts the node off as a frozen machine; a replace of a paused node lifts that', async () => {
    const ping = () => rig.node('mill').exec(['/.rig/bin/ping', '-c', '1', '-W', '2', 'barn']);
    await rig.pause('barn');
    expect((await ping()).exitCode).not.toBe(0);
    await rig.replace('barn');
    expect((await ping()).exitCode).toBe(0);
  });

  it("start wires a Docker node itself when the rig's keeper is not running", async () => {
    const keeper = (await execa('ps', ['-eo', 'pid=,args='])).stdout
      .split('\n')
      .find((line) => line.includes('keeper.js') && line.trim().endsWith(` ${name}`));
    expect(keeper).toBeDefined();
    process.kill(Number(keeper!.trim().split(/\s+/)[0]), 'SIGTERM'); // this rig's keeper, started by this file's up
    const ping = () => rig.node('barn').exec(['/.rig/bin/ping', '-c', '1', '-W', '2', 'mill']);
    await rig.stop('mill');
    expect((await ping()).exitCode).not.toBe(0);
    await rig.start('mill');
    expect((await ping()).exitCode).toBe(0);
  });

  it("shows the drills in the rig's trace, each with its node(s)", async () => {
    const events = (await rig.trace()).events.filter((e) => e.type === 'event');
    const kinds = events.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['kill', 'start', 'partition', 'heal', 'replace', 'pause', 'stop']));
    expect(events.find((e) => e.kind === 'kill')).toMatchObject({ fqdn: 'barn.village.test' });
    expect(events.find((e) => e.kind === 'partition')).toMatchObject({ fqdns: ['barn.village.test', 'mill.village.test'] });
  });

  it('refuses an unknown node and a bad loss, as the CLI does', async () => {
    await expect(rig.stop('nosuch')).rejects.toThrow(/No node nosuch/);
    await expect(rig.netem('mill', { lossPercent: 150 })).rejects.toThrow(/150/);
  });
});
