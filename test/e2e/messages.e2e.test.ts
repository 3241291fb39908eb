import { afterAll, describe, expect, it } from 'vitest';
import { fixtureDir, leftovers, rig, uniqueName, useRig } from './helpers.js';

const rigFile = (nodes: string[]) => (name: string) =>
  `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n${nodes.map((n) => `  ${n}.village.test:\n`).join('')}`;

// Issue 21, items 5 and 6: a rig name that is not up, and a node name that is in no rig, on a host where several
// rigs are up. The rigs' names begin with a digit so that they sort before the rigs other test files bring up at the
// same time, and so are among the first rigs an error lists.
describe('a rig or a node that is not there, with several rigs up', () => {
  const big = useRig('0msgbig', rigFile(['barn', 'mill', 'well', 'silo', 'loft', 'shed', 'byre', 'kiln']));
  const small = useRig('0msgsmall', rigFile(['barn', 'mill']));

  it('rig status --name of a rig that is not up: exit 2, no rig of that name, and the rigs that are up', async () => {
    const out = await rig(['status', '--name', 'nosuch']);
    expect(out.exitCode, out.all).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain('No rig named nosuch is up.');
    expect(out.stderr).toMatch(new RegExp(`the rigs that are up: .*${big.name}.*${small.name}`));
    const json = await rig(['status', '--name', 'nosuch', '--json']);
    expect(json.exitCode).toBe(2);
    expect(json.stdout).toBe('');
    // A rig that is up is still shown, exit 0.
    const one = await rig(['status', '--name', small.name]);
    expect(one.exitCode, one.all).toBe(0);
    expect(one.stdout).toContain(`rig ${small.name}`);
  });

  it('rig facts with --name or RIG_NAME of a rig that is not up says there is no such rig, and lists the rigs', async () => {
    const typo = big.name.slice(0, -1);
    const out = await rig(['facts', 'barn', '--name', typo]);
    expect(out.exitCode, out.all).toBe(2);
    expect(out.stderr).toContain(`No rig named ${typo} is up.`);
    expect(out.stderr).toContain(`did you mean ${big.name}?`);
    expect(out.stderr).toMatch(new RegExp(`the rigs that are up: .*${big.name}.*${small.name}`));
    expect(out.stderr).not.toMatch(/No node|no node is up/);

    const env = await rig(['facts', 'web1'], { env: { RIG_NAME: 'uxnone' } });
    expect(env.exitCode, env.all).toBe(2);
    expect(env.stderr).toContain('No rig named uxnone is up (the name is RIG_NAME');
    expect(env.stderr).toContain(small.name);
    expect(env.stderr).not.toMatch(/No node|no node is up/);
  });

  it('rig facts of a mistyped node suggests the closest node names, and keeps the list short', async () => {
    const anyRig = await rig(['facts', 'barnn'], { cwd: '/' });
    expect(anyRig.exitCode, anyRig.all).toBe(2);
    expect(anyRig.stderr).toContain('No node barnn in any rig that is up.');
    expect(anyRig.stderr).toMatch(new RegExp(`did you mean barn \\(rig [^)]*${big.name}, rig ${small.name}[^)]*\\)\\?`));
    expect(anyRig.stderr).not.toMatch(/kiln|silo/); // not every node of every rig
    expect(anyRig.stderr.trim().split('\n')).toHaveLength(2); // the message and its fix

    const inRig = await rig(['facts', 'kilm', '--name', big.name]);
    expect(inRig.exitCode).toBe(2);
    expect(inRig.stderr).toContain(`No node kilm in rig ${big.name}.`);
    expect(inRig.stderr).toContain('did you mean kiln?');
    const fqdn = await rig(['facts', 'mill.village.tset', '--name', big.name]);
    expect(fqdn.stderr).toContain('did you mean mill.village.test?');
  });

  it('rig facts of a node like none lists a few nodes and says how to see the rest', async () => {
    const inRig = await rig(['facts', 'zzzzzz', '--name', big.name]);
    expect(inRig.exitCode).toBe(2);
    expect(inRig.stderr).toContain(
      `the nodes of rig ${big.name}: barn, byre, kiln, loft, mill, shed and 2 more (see them all with: rig status --name ${big.name})`,
    );
    const anyRig = await rig(['facts', 'zzzzzz'], { cwd: '/' });
    expect(anyRig.exitCode).toBe(2);
    const listed = /the nodes that are up: (.*) and \d+ more \(see them all with: rig status\)/.exec(anyRig.stderr)?.[1];
    expect(listed?.match(/ \(rig /g), anyRig.stderr).toHaveLength(6); // six nodes, each with its rigs
  });
});

// Issue 21, item 9: the library's errors name the library's options, not the CLI's flags.
describe('the API names its own options in its errors', () => {
  const name = uniqueName('apiopts');
  const fixture = fixtureDir(rigFile(['barn'])(name));
  afterAll(() => fixture.cleanup());

  it('a timeout that is not a duration is the timeout option, and nothing is made', async () => {
    const { up } = await import('rig');
    const error = await up(fixture.file, { name, timeout: 'soon' }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('up(): the timeout option "soon" is not a duration (or not one rig can wait).');
    expect((error as Error).message).not.toContain('--');
    const number = await up(fixture.file, { name, timeout: 90 as unknown as string }).catch((e: Error) => e);
    expect((number as Error).message).toBe('up(): the timeout option is a number, not a duration.');
    const badName = await up(fixture.file, { name: 'Not_A_Name' }).catch((e: Error) => e);
    expect((badName as Error).message).toBe('up(): the name option "Not_A_Name" is not a valid rig name.');
    expect((badName as Error).message).not.toContain('command line');
    expect(await leftovers(name)).toEqual([]);
  });
});
