import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { rig } from './helpers.js';

// The example's control repo as a user's git clone: the links rig makes must not show in git status unnoticed.
describe('rig check and the links git would see', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-gitlinks-'));
  cpSync(resolve(import.meta.dirname, '../../rigs/village'), dir, { recursive: true });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('warns when git does not ignore them, with a line for the clone’s own exclude file that then silences it', async () => {
    await execa('git', ['init', '-q', dir]);
    const check = await rig(['check', 'rig.yaml'], { cwd: dir });
    expect(check.exitCode, check.all).toBe(0);
    const line = /echo '([^']+)' >> (\S+)/.exec(check.stderr);
    expect(check.stderr).toContain(
      'the symlinks rig makes in control-repo/hieradata/nodes (3, e.g. barn.village.test.yaml) are not ignored by git',
    );
    expect(line?.slice(1)).toEqual(['/control-repo/hieradata/nodes/*.village.test.yaml', join(dir, '.git/info/exclude')]);
    await execa('sh', ['-c', `echo '${line![1]}' >> '${line![2]}'`]);
    const again = await rig(['check', 'rig.yaml'], { cwd: dir });
    expect(again.exitCode).toBe(0);
    expect(again.stderr).not.toContain('not ignored by git');
  });
});
