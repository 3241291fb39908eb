import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up, type Rig } from 'rig';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fixtureDir, leftovers, uniqueName } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');

// The README's example ("A typed API for test suites"), as written there, on a rig of its own.
describe('rig as a library', () => {
  const name = uniqueName('api');
  const fixture = fixtureDir(
    `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n    mirrors: straleb.prod.example\n    provision:\n      - shell: sleep 1; rig-fact set redis_role master\n  mill.village.test:\n`,
  );
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

  it("is the README's example, line for line", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /In a vitest file \(this is `test\/e2e\/api\.e2e\.test\.ts`\):\n\n```ts\n([^]*?)```/.exec(readme)?.[1];
    const here = /\/\/ --- as in the README ---\n([^]*?)\n {2}\/\/ --- end of the README's example ---/.exec(
      readFileSync(import.meta.filename, 'utf8'),
    )?.[1];
    // Here the example sits inside describe(), one level deeper than in the README.
    const lines = (text = '', indent = '') =>
      text
        .split('\n')
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .filter((l) => l && !l.startsWith('import '));
    expect(lines(example).length).toBeGreaterThan(5);
    expect(lines(here, '  ')).toEqual(lines(example));
  });

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

  it("gives the rig's trace: each node's stages with times, and the critical path of its up", async () => {
    const trace = await rig.trace();
    expect(trace.name).toBe(name);
    const stages = (node: string) => trace.events.flatMap((e) => (e.type === 'stage' && e.fqdn === node ? [e.stage] : []));
    expect(stages('barn.village.test')).toEqual(['created', 'addressed', 'facts', 'provisioning 1/1', 'ready']);
    expect(stages('mill.village.test')).toEqual(['created', 'addressed', 'facts', 'ready']);
    expect(trace.criticalPath.ready).not.toBeNull();
    expect(trace.criticalPath.steps.at(-1)?.to).toBe(trace.criticalPath.ready);
  });

  it('takes the rig down with Symbol.asyncDispose (await using), leaving nothing', async () => {
    await rig[Symbol.asyncDispose]();
    expect(await leftovers(name)).toEqual([]);
    fixture.cleanup();
  });
});

// The README's globalSetup example, taken from the README itself, in a vitest project of its own: one rig for every
// test file of a suite, its addresses handed to the tests with provide/inject.
describe("the README's globalSetup example", () => {
  it("brings one rig up for the suite, hands barn's address to its tests, and takes the rig down", async () => {
    const { execa } = await import('execa');
    const { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const snippet = /For one rig shared by every test file[^]*?```ts\n([^]*?)```/.exec(readme)?.[1];
    expect(snippet).toContain('project.provide');

    const name = 'my-tests'; // as the README names it
    const project = mkdtempSync(join(tmpdir(), 'rig-globalsetup-'));
    try {
      mkdirSync(join(project, 'test'));
      mkdirSync(join(project, 'node_modules'));
      symlinkSync(root, join(project, 'node_modules', 'rig')); // as `npm install rig` would make it resolve
      writeFileSync(join(project, 'test', 'rig-setup.ts'), snippet!);
      writeFileSync(
        join(project, 'test', 'rig.yaml'),
        `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n`,
      );
      // The config the README's first line names, with what that line says it holds.
      const [, configFile, config] = /^\/\/ (vitest\.config\.ts): (.*)$/m.exec(snippet!) ?? [];
      expect(config).toBe("test: { globalSetup: ['test/rig-setup.ts'] }");
      writeFileSync(join(project, configFile), `export default { ${config} };\n`);
      writeFileSync(
        join(project, 'test', 'barn.test.ts'),
        [
          "import { expect, inject, it } from 'vitest';",
          "import { execFileSync } from 'node:child_process';",
          "it('gets barn\\'s address from the global setup', () => {",
          "  const ip = inject('barnIp' as never) as string;",
          '  expect(ip).toMatch(/^\\d+\\.\\d+\\.\\d+\\.\\d+$/);',
          `  expect(execFileSync('docker', ['exec', 'rig-${name}.barn', '/.rig/bin/ip', '-4', '-o', 'addr', 'show', 'eth0']).toString()).toContain(ip + '/');`,
          '});',
          '',
        ].join('\n'),
      );
      const run = await execa(join(root, 'node_modules', '.bin', 'vitest'), ['run', '--root', project], {
        cwd: project,
        reject: false,
        all: true,
        env: { CI: 'true' },
      });
      expect(run.exitCode, run.all).toBe(0);
      expect(run.all).toMatch(/1 passed/);
      expect(await leftovers(name)).toEqual([]); // the setup's teardown took it down
    } finally {
      await execa('node', [join(root, 'bin', 'rig'), 'down', '--name', name], { reject: false });
      rmSync(project, { recursive: true, force: true });
    }
  });
});
