import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RigFileError, type Problem } from '../../src/errors.js';
import { parseRigFile } from '../../src/rigfile/load.js';

// Config dirs are checked on disk: a repository in a temp dir, the rig file in it, and links out of it.
//   <root>/repo/.git, repo/hiera/nodes/, repo/hiera/etc -> <root>/outside, repo/out -> <root>/outside
let root: string;
let repo: string;

beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rig-configs-test-')));
  repo = path.join(root, 'repo');
  for (const d of ['.git', 'hiera/nodes', '../outside']) fs.mkdirSync(path.join(repo, d), { recursive: true });
  fs.symlinkSync(path.join(root, 'outside'), path.join(repo, 'hiera/etc'));
  fs.symlinkSync(path.join(root, 'outside'), path.join(repo, 'out'));
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function problems(...config: string[]): Problem[] {
  try {
    parseRigFile(['configs:', ...config, 'nodes: { barn.v.test: }'].join('\n') + '\n', path.join(repo, 'rig.yaml'));
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(RigFileError);
    return (err as RigFileError).problems;
  }
}

describe('where rig may make links', () => {
  it('takes dirs and template directories inside the repository', () => {
    fs.mkdirSync(path.join(repo, 'hiera/nodes/sub'));
    expect(problems('  - dir: hiera/nodes')).toEqual([]);
    expect(problems('  - dir: hiera', '    file: "nodes/{node}.yaml"')).toEqual([]);
    expect(problems('  - dir: hiera/nodes', '    file: "sub/{node}.yaml"')).toEqual([]);
  });

  it('refuses a dir that leads out of the repository, even one not made yet', () => {
    expect(problems('  - dir: out')).toMatchObject([{ path: 'configs[0].dir', message: expect.stringContaining('(it is a link to') }]);
    expect(problems('  - dir: out/new')).toMatchObject([
      { path: 'configs[0].dir', message: expect.stringContaining(path.join(root, 'outside/new')) },
    ]);
  });

  it('refuses a file template whose directory part leads out of the repository', () => {
    expect(problems('  - dir: hiera', '    file: "etc/{node}"')).toMatchObject([
      { path: 'configs[0].file', line: 3, column: 11, message: expect.stringContaining('hiera/etc is outside') },
    ]);
  });

  it('takes them outside with outside_repo: true', () => {
    expect(problems('  - dir: out', '    outside_repo: true')).toEqual([]);
    expect(problems('  - dir: hiera', '    file: "etc/{node}"', '    outside_repo: true')).toEqual([]);
  });

  it('refuses a template directory that does not exist under an existing dir', () => {
    expect(problems('  - dir: hiera/nodes', '    file: "sub/{node}.yaml"')).toMatchObject([
      { path: 'configs[0].file', message: 'there is no directory hiera/nodes/sub, where rig would make the links of "sub/{node}.yaml"' },
    ]);
  });
});
