import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { rig, rigBin } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');

/**
 * bin/rig runs the CLI's bundle (dist/bundle/, scripts/bundle.mjs): the files of the package its code reads are
 * found from there as from dist/. (The images directory is read by the e2e run's `rig images build`, the ansible
 * step's inventory script by the ansible step's tests, the keeper's script by restart.e2e.test.ts.)
 */
describe('the CLI from its bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("says the package's version", async () => {
    const version = await rig(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
  });

  it("checks a rig file with the validator the build precompiled, without loading ajv's compiler", async () => {
    // Which CommonJS modules the process loaded (the validator is one, as ajv would be), written as it exits.
    const hook = join(dir, 'loaded.cjs');
    const list = join(dir, 'loaded.txt');
    writeFileSync(
      hook,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, Object.keys(require.cache).join('\\n')));\n`,
    );
    const check = await execa('node', ['--require', hook, rigBin, 'check', 'rigs/village/rig.yaml', '--json'], {
      cwd: root,
      reject: false,
    });
    expect(check.exitCode, check.stderr).toBe(0);
    const loaded = readFileSync(list, 'utf8').split('\n');
    expect(loaded).toContain(join(root, 'dist', 'rigfile', 'validate-rigfile.cjs'));
    // The validator needs ajv's runtime helpers only; ajv itself (its compiler) is what the build spares the CLI.
    expect(loaded.filter((file) => file.includes('/node_modules/ajv/') && !file.includes('/ajv/dist/runtime/'))).toEqual([]);
  });
});
