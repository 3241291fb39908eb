import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { docker, eventually, fixtureDir, killSpawned, leftovers, printed, rig, spawnRig, uniqueName } from './helpers.js';

// Issue 21, item 24: `rig down` of a rig while an `up` (or an `up` of an edited rig file, a reconcile) is at work on
// it. Whatever the up was doing when its rig went, it must say that the rig was taken down meanwhile, and advise
// nothing about what is gone (no `docker logs` of a removed container, no "stays up as far as the changes got").
// The races are real: the test waits for an event the up makes (its network exists, or its plan is printed), then
// runs `rig down`. Which of the two wins is not the test's to choose: each attempt asserts on what the user is
// told in the outcome that occurred, and a few attempts make sure that the up lost at least once.

const rigFile = (name: string, nodes: string[]) =>
  `name: ${name}\ndomain: race.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n${nodes.map((n) => `  ${n}.race.test:\n`).join('')}`;

const rigsMade: string[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  killSpawned();
  const names = rigsMade.splice(0);
  for (const name of names) await rig(['down', '--name', name]); // every rig, before any assertion can stop the loop
  for (const cleanup of cleanups.splice(0)) cleanup();
  for (const name of names) expect(await leftovers(name)).toEqual([]);
});

function newRig(prefix: string, nodes: string[]) {
  const name = uniqueName(prefix);
  const fixture = fixtureDir(rigFile(name, nodes));
  rigsMade.push(name);
  cleanups.push(fixture.cleanup);
  return { name, ...fixture };
}

const networkExists = async (name: string) =>
  (await docker(['network', 'ls', '--filter', `label=io.rig.rig=${name}`, '--format', '{{.Name}}'])).trim() !== '';

/**
 * What a user must never be told about a rig that is gone: advice to look at its parts, or an engine's error as the
 * verdict. (The progress lines above the verdict show each step as it ended, engine errors and all: that is
 * what happened, in order; the verdict, the error rig ends with and its fix, is what the user acts on.)
 */
function expectNothingAdvisedOfWhatIsGone(output: string): void {
  expect(output).not.toMatch(/docker logs|rig logs|internal error/);
  const verdict = output.slice(output.lastIndexOf('\nrig: ') + 1);
  expect(verdict).not.toMatch(/RTNETLINK|HTTP code|stays up as far as the changes got|rig down --name/);
}

/** Everything of the rig is gone once both commands ended: nothing for the user to clean up. */
async function expectNothingLeft(name: string): Promise<void> {
  expect(await eventually(async () => (await leftovers(name)).length === 0, 10_000)).toBe(true);
}

describe('rig up racing rig down of the same rig', () => {
  it('says the rig was taken down meanwhile (exit 1), never an engine error or docker logs of a removed container', async () => {
    const outcomes: string[] = [];
    // From at once to about when the up is done: each attempt hits another step of the up (the down comes a moment
    // after up's progress says it began), or none.
    for (const phase of [
      undefined,
      undefined,
      /❯ .*Start dnsmasq/,
      /› .*: created/,
      /› .*dnsmasq and etcd: DNS/,
      /› .*: addressed/,
      /› .*: ready/,
    ]) {
      const { name, dir } = newRig('uprace', ['barn', 'mill', 'well', 'silo']);
      const up = spawnRig(['up', 'rig.yaml'], dir);
      // The network is the first thing an up makes: from then on the rig is up as far as `rig down` can tell.
      const made = await eventually(async () => (await networkExists(name)) || up.child.exitCode !== null, 120_000, 10);
      expect(made && up.child.exitCode === null, up.output()).toBe(true);
      if (phase) await printed(up, phase); // false if the up ended first: the down then comes after it
      const down = await rig(['down', '--name', name]);
      const { code } = await up.exited;
      const said = `up exit ${code}:\n${up.output()}\n---- down exit ${down.exitCode}:\n${down.all}`;
      if (code === 0) {
        // The up was done before the down: it said the rig is up, and the down removed it.
        expect(up.output(), said).toContain(`rig ${name} is up`);
        outcomes.push('up first');
      } else {
        expect(code, said).toBe(1);
        expect(up.output(), said).toContain(`Rig ${name} was taken down while this rig up was bringing it up`);
        expect(up.output(), said).toContain(`fix: bring it up again with: rig up rig.yaml`);
        expectNothingAdvisedOfWhatIsGone(up.output());
        outcomes.push('taken down');
      }
      await expectNothingLeft(name);
    }
    console.log(`up racing down: ${outcomes.join(', ')}`);
    expect(outcomes, 'the down never came while the up was at work').toContain('taken down');
  });
});

describe('an up of an edited rig file (a reconcile) racing rig down of the rig', () => {
  it('says the rig was taken down meanwhile (exit 1), not that it stays up as far as the changes got', async () => {
    const outcomes: string[] = [];
    // The down comes as the plan is printed, or a moment after the reconcile says it made, addressed or readied a node.
    for (const phase of [undefined, undefined, /› .*: created/, /› .*: addressed/, /› .*: ready/]) {
      const { name, dir, file } = newRig('recrace', ['barn']);
      const first = await rig(['up', 'rig.yaml'], { cwd: dir });
      expect(first.exitCode, first.all).toBe(0);
      writeFileSync(file, rigFile(name, ['barn', 'mill', 'well', 'silo']));
      const reconcile = spawnRig(['up', 'rig.yaml'], dir);
      // The plan is printed just before the reconcile changes anything.
      const planned = await eventually(
        async () => reconcile.output().includes('changing only that') || reconcile.child.exitCode !== null,
        120_000,
        10,
      );
      expect(planned && reconcile.child.exitCode === null, reconcile.output()).toBe(true);
      if (phase) await printed(reconcile, phase); // false if the reconcile ended first: the down then comes after it
      const down = await rig(['down', '--name', name]);
      const { code } = await reconcile.exited;
      const said = `reconcile exit ${code}:\n${reconcile.output()}\n---- down exit ${down.exitCode}:\n${down.all}`;
      if (code === 0) {
        expect(reconcile.output(), said).toContain(`rig ${name} is up and matches rig.yaml`);
        outcomes.push('reconcile first');
      } else {
        expect(code, said).toBe(1);
        expect(reconcile.output(), said).toContain(`Rig ${name} was taken down while this rig up was changing it`);
        expect(reconcile.output(), said).toContain('fix: bring it up again with: rig up rig.yaml');
        expectNothingAdvisedOfWhatIsGone(reconcile.output());
        outcomes.push('taken down');
      }
      await expectNothingLeft(name);
    }
    console.log(`reconcile racing down: ${outcomes.join(', ')}`);
    expect(outcomes, 'the down never came while the reconcile was at work').toContain('taken down');
  });
});
