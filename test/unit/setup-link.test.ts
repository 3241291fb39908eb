import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

// scripts/setup puts `rig` on the PATH (issue 21, item 15): a symlink /usr/local/bin/rig to the checkout's bin/rig,
// as `npm link` would make, and never over a user's file. Its link_rig step, taken from the script itself, is run
// here on a directory of the test's own instead of /usr/local/bin.
const root = resolve(import.meta.dirname, '../..');
const setup = readFileSync(join(root, 'scripts', 'setup'), 'utf8');
/** A function of the script, on one line or several. */
const step = (name: string) => new RegExp(`^${name}\\(\\) \\{(?:.*\\}$|\\n[^]*?^\\}$)`, 'm').exec(setup)?.[0] ?? '';
const target = join(root, 'bin', 'rig');

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function linkRig(linkDir: string) {
  const script = `${step('log')}\n${step('link_rig')}\nlink_rig ${JSON.stringify(linkDir)}`;
  const run = await execa('bash', ['-euo', 'pipefail', '-c', script], { cwd: root, reject: false, all: true });
  expect(run.exitCode, run.all).toBe(0);
  return run.all ?? '';
}

describe('scripts/setup puts rig on the PATH', () => {
  it('runs link_rig on /usr/local/bin after building rig', () => {
    expect(step('link_rig')).not.toBe('');
    expect(setup).toMatch(/npm run --silent build\n[^]*^link_rig \/usr\/local\/bin$/m);
  });

  it('links DIR/rig to bin/rig where there is none, and leaves its own link as it is', async () => {
    dir = mkdtempSync(join(tmpdir(), 'rig-link-'));
    const bin = join(dir, 'bin');
    expect(await linkRig(bin)).toContain(`linked ${bin}/rig -> ${target}`);
    expect(readlinkSync(join(bin, 'rig'))).toBe(target);
    const found = await execa('bash', ['-c', 'command -v rig'], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect(found.stdout).toBe(join(bin, 'rig'));
    const again = await linkRig(bin);
    expect(again).not.toMatch(/linked|left/);
    expect(readlinkSync(join(bin, 'rig'))).toBe(target);
  });

  it("never replaces a user's file, a link to something else, or a dangling link", async () => {
    dir = mkdtempSync(join(tmpdir(), 'rig-link-'));
    writeFileSync(join(dir, 'rig'), '#!/bin/sh\necho my own rig\n');
    expect(await linkRig(dir)).toContain(`left ${dir}/rig as it is`);
    expect(readFileSync(join(dir, 'rig'), 'utf8')).toBe('#!/bin/sh\necho my own rig\n');
    expect(lstatSync(join(dir, 'rig')).isSymbolicLink()).toBe(false);

    rmSync(join(dir, 'rig'));
    symlinkSync('/bin/true', join(dir, 'rig'));
    expect(await linkRig(dir)).toContain('left');
    expect(readlinkSync(join(dir, 'rig'))).toBe('/bin/true');

    rmSync(join(dir, 'rig'));
    symlinkSync(join(dir, 'gone'), join(dir, 'rig'));
    expect(await linkRig(dir)).toContain('left');
    expect(readlinkSync(join(dir, 'rig'))).toBe(join(dir, 'gone'));
    expect(existsSync(join(dir, 'gone'))).toBe(false);
  });
});
