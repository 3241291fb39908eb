import { describe, expect, it } from 'vitest';
import { parseRigFile } from '../../src/rigfile/load.js';
import { nodeSettingsHash } from '../../src/plan/plan.js';
import { onlyProblem, problemsOf } from './rigfile-problems.js';

// The rig file's lxd: (where LXD nodes go) and a node's lxd: { target }: the shape, and every error at its line.
const FILE = 'rigs/test.yaml';
const y = (...lines: string[]) => lines.join('\n') + '\n';
const problems = (text: string) => problemsOf(() => parseRigFile(text, FILE));
const one = (text: string) => onlyProblem(problems(text), FILE);

describe("the rig file's lxd:", () => {
  it('takes a remote, a project and a target rig-wide, and a target per node, which wins', () => {
    const spec = parseRigFile(
      y(
        'backend: lxd',
        'lxd:',
        '  remote: mycluster',
        '  project: ci',
        '  target: m1',
        'nodes:',
        '  barn.v.test:',
        '  mill.v.test:',
        '    lxd: { target: m2 }',
        '  well.v.test:',
        '    backend: docker',
      ),
      FILE,
    );
    expect(spec.lxd).toEqual({ remote: 'mycluster', project: 'ci', lines: { lxd: 2, remote: 3, project: 4 } });
    const [barn, mill, well] = spec.nodes;
    expect([barn.target, barn.targetLine]).toEqual(['m1', 5]);
    expect([mill.target, mill.targetLine]).toEqual(['m2', 9]);
    expect(well.target).toBeUndefined(); // a Docker node goes on no member
  });

  it('is optional: without it, nothing of LXD is in the spec and nodes are placed by rig', () => {
    const spec = parseRigFile(y('backend: lxd', 'nodes: { barn.v.test: }'), FILE);
    expect(spec.lxd).toBeUndefined();
    expect(spec.nodes[0]).not.toHaveProperty('target');
  });

  it('changes a node when its target does, not when the line it is on moves', () => {
    const hash = (text: string) => nodeSettingsHash(parseRigFile(text, FILE).nodes[0]);
    const pinned = hash(y('backend: lxd', 'nodes:', '  barn.v.test:', '    lxd: { target: m2 }'));
    expect(hash(y('backend: lxd', '', 'nodes:', '  barn.v.test:', '    lxd: { target: m2 }'))).toBe(pinned);
    expect(hash(y('backend: lxd', 'nodes:', '  barn.v.test:', '    lxd: { target: m3 }'))).not.toBe(pinned);
    // a rig file without lxd: keeps the hash its nodes had before lxd: existed
    expect(hash(y('backend: lxd', 'nodes:', '  barn.v.test:'))).toBe(hash(y('backend: lxd', 'nodes:', '  barn.v.test: {}')));
  });

  it('refuses an address as remote:, saying to add it to the lxc client', () => {
    const p = one(y('backend: lxd', 'lxd: { remote: "https://10.0.0.1:8443" }', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({
      line: 2,
      path: 'lxd.remote',
      message: '"https://10.0.0.1:8443" is an address; remote: names a remote of the lxc client',
    });
    expect(p.hint).toContain('lxc remote add mycluster https://HOST:8443');
    expect(p.hint).toContain('never from the rig file');
  });

  it('refuses names LXD would not take, each at its line', () => {
    const [remote, project, target] = problems(
      y('backend: lxd', 'lxd:', '  remote: "my cluster"', '  project: "a/b"', '  target: ""', 'nodes: { barn.v.test: }'),
    );
    expect(remote).toMatchObject({ line: 3, path: 'lxd.remote', message: '"my cluster" is not a remote name' });
    expect(project).toMatchObject({ line: 4, path: 'lxd.project', message: '"a/b" is not a project name' });
    expect(project.hint).toContain('lxc project create ci');
    expect(target).toMatchObject({ line: 5, path: 'lxd.target', message: '"" is not a cluster member name' });
    expect(target.hint).toContain('lxc cluster list');
  });

  it('refuses a value of the wrong type, and an unknown key, saying what fits', () => {
    let p = one(y('backend: lxd', 'lxd: mycluster', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 2, path: 'lxd', message: 'must be a map, not a string ("mycluster")' });
    expect(p.hint).toContain('lxd: { remote: mycluster, project: ci, target: m2 }');
    p = one(y('backend: lxd', 'lxd: { remote: a, targets: m1 }', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 2, path: 'lxd.targets', message: 'unknown key "targets"' });
    expect(p.hint).toContain('did you mean target?');
    p = one(y('backend: lxd', 'lxd: { target: 2 }', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 2, path: 'lxd.target', message: 'must be a cluster member name, not a number (2)' });
  });

  it("refuses a node's remote: or project:, which are the rig's", () => {
    const p = one(y('backend: lxd', 'nodes:', '  barn.v.test:', '    lxd: { project: ci }'));
    expect(p).toMatchObject({ line: 4, path: 'nodes["barn.v.test"].lxd.project', message: 'unknown key "project"' });
    expect(p.hint).toBe(
      "valid keys here: target; project: is rig-wide (the top-level lxd:): a rig's nodes are all in one project of one LXD",
    );
  });

  it('refuses a target on a node that is not an LXD node', () => {
    const p = one(y('nodes:', '  barn.v.test:', '    lxd: { target: m2 }'));
    expect(p).toMatchObject({
      line: 3,
      path: 'nodes["barn.v.test"].lxd.target',
      message: "this node's backend is docker: only an LXD node goes on a cluster member",
    });
    expect(p.hint).toContain('backend: lxd');
    // the rig-wide target is for the LXD nodes only: a Docker node beside them is fine
    expect(() => parseRigFile(y('lxd: { target: m1 }', 'nodes: { barn.v.test: }'), FILE)).not.toThrow();
  });
});
