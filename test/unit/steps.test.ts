import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onlyProblem, problemsOf } from './rigfile-problems.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { recordedUpdate } from '../../src/rigfile/steps.js';
import type { RigSpec } from '../../src/rigfile/types.js';

// Step paths are checked on disk, so every rig file here lives in a real temp dir:
//   <root>/outside.sh             a file next to, not inside, the rig's directory
//   <root>/rig/rig.yaml           the rig file (not written: parseRigFile gets the text)
//   <root>/rig/scripts/setup.sh, ..hidden.sh
//   <root>/rig/control-repo/manifests/site.pp, control-repo/modules/, control-repo/hiera.yaml
let root: string;
let dir: string;
let file: string;

beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rig-steps-test-')));
  dir = path.join(root, 'rig');
  file = path.join(dir, 'rig.yaml');
  for (const d of ['scripts', 'control-repo/manifests', 'control-repo/modules']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  for (const f of ['scripts/setup.sh', 'scripts/..hidden.sh', 'control-repo/manifests/site.pp', 'control-repo/hiera.yaml']) {
    fs.writeFileSync(path.join(dir, f), '');
  }
  fs.writeFileSync(path.join(root, 'outside.sh'), '');
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const at = (rel: string) => path.join(dir, rel);
const parse = (...lines: string[]): RigSpec => parseRigFile(lines.join('\n') + '\n', file);
const node = (spec: RigSpec, shortName: string) => spec.nodes.find((n) => n.shortName === shortName)!;

const problems = (...lines: string[]) => problemsOf(() => parse(...lines));
const one = (...lines: string[]) => onlyProblem(problems(...lines), file);

describe('provision', () => {
  it('parses each step kind, with absolute paths', () => {
    const spec = parse(
      'domain: village.test',
      'nodes:',
      '  redis1:',
      '    provision:',
      '      - shell: echo hello',
      '      - script: scripts/setup.sh',
      '      - puppet: control-repo/manifests/site.pp',
      '      - puppet:',
      '          manifest: control-repo/manifests',
      '          modulepath: control-repo/modules',
      '          hiera_config: control-repo/hiera.yaml',
      '      - puppet: { manifest: ./control-repo/manifests/site.pp }',
      '      - shell: |',
      '          set -e',
      '          rig-fact set redis_role master',
      '      - script: scripts/..hidden.sh',
    );
    expect(spec.file).toBe(file);
    expect(spec.dir).toBe(dir);
    expect(spec.nodes[0].provision).toStrictEqual([
      { kind: 'shell', script: 'echo hello' },
      { kind: 'script', path: at('scripts/setup.sh') },
      { kind: 'puppet', manifest: at('control-repo/manifests/site.pp') },
      {
        kind: 'puppet',
        manifest: at('control-repo/manifests'),
        modulepath: at('control-repo/modules'),
        hieraConfig: at('control-repo/hiera.yaml'),
      },
      { kind: 'puppet', manifest: at('control-repo/manifests/site.pp') },
      { kind: 'shell', script: 'set -e\nrig-fact set redis_role master\n' },
      { kind: 'script', path: at('scripts/..hidden.sh') },
    ]);
  });

  it('uses the rig-wide provision and validate as defaults, overridden per node', () => {
    const spec = parse(
      'domain: village.test',
      'provision:',
      '  - shell: apt-get install -y redis-server',
      'validate:',
      '  - systemctl is-active redis-server',
      'nodes:',
      '  redis1:',
      '  redis2:',
      '    provision: [{ script: scripts/setup.sh }]',
      '  app:',
      '    validate: curl -fs localhost',
      '  web:',
      '    provision: []',
      '    validate: []',
    );
    const rigSteps = [{ kind: 'shell', script: 'apt-get install -y redis-server' }];
    const rigChecks = ['systemctl is-active redis-server'];
    expect(spec.nodes.map((n) => [n.shortName, n.line, n.provision, n.validate])).toEqual([
      ['redis1', 7, rigSteps, rigChecks],
      ['redis2', 8, [{ kind: 'script', path: at('scripts/setup.sh') }], rigChecks],
      ['app', 10, rigSteps, ['curl -fs localhost']],
      ['web', 12, [], []],
    ]);
  });

  it('reports a script or manifest that does not exist, at its line', () => {
    let p = one(
      'domain: village.test',
      'nodes:',
      '  redis1:',
      '    provision:',
      '      - shell: echo ok',
      '      - script: scripts/nope.sh',
    );
    expect(p).toMatchObject({
      line: 6,
      column: 17,
      path: 'nodes.redis1.provision[1].script',
      message: `script scripts/nope.sh does not exist (looked for ${at('scripts/nope.sh')})`,
    });
    expect(p.hint).toContain('relative to the rig file');

    p = one(
      'provision:',
      '  - puppet:',
      '      manifest: control-repo/manifests/site.pp',
      '      hiera_config: hiera.yaml',
      'nodes: { redis1.village.test: }',
    );
    expect(p).toMatchObject({ line: 4, column: 21, path: 'provision[0].puppet.hiera_config' });
    expect(p.message).toBe(`hiera config hiera.yaml does not exist (looked for ${at('hiera.yaml')})`);

    p = one('provision: [{ puppet: manifests/site.pp }]', 'nodes: { redis1.village.test: }');
    expect(p).toMatchObject({ line: 1, column: 23, path: 'provision[0].puppet' });
    expect(p.message).toMatch(/^manifest manifests\/site.pp does not exist/);
  });

  it('checks that a script is a file and a module path a directory', () => {
    const [p, q] = problems(
      'domain: village.test',
      'nodes:',
      '  redis1:',
      '    provision:',
      '      - script: scripts',
      '      - puppet: { manifest: control-repo/manifests, modulepath: control-repo/hiera.yaml }',
    );
    expect(p).toMatchObject({ line: 5, column: 17, path: 'nodes.redis1.provision[0].script', message: 'script scripts is not a file' });
    expect(q).toMatchObject({ line: 6, path: 'nodes.redis1.provision[1].puppet.modulepath' });
    expect(q.message).toBe('module path control-repo/hiera.yaml is not a directory');
  });

  it("rejects paths outside the rig file's directory, even ones that exist", () => {
    const found = problems(
      'domain: village.test',
      'provision:',
      '  - script: ../outside.sh',
      'nodes:',
      '  redis1:',
      '    provision:',
      `      - puppet: ${path.join(root, 'outside.sh')}`,
      '      - script: scripts/../../outside.sh',
    );
    expect(found.map((p) => [p.line, p.column, p.path])).toEqual([
      [3, 13, 'provision[0].script'],
      [7, 17, 'nodes.redis1.provision[0].puppet'],
      [8, 17, 'nodes.redis1.provision[1].script'],
    ]);
    expect(found[0].message).toBe("../outside.sh is outside the rig file's directory, which is all the nodes can see");
    expect(found[0].hint).toBe(`move it under ${dir}`);
  });

  it("rejects a link that leads out of the rig file's directory", () => {
    fs.symlinkSync(path.join(root, 'outside.sh'), at('scripts/link.sh'));
    const p = one('provision: [{ script: scripts/link.sh }]', 'nodes: { redis1.village.test: }');
    expect(p).toMatchObject({ line: 1, column: 23, path: 'provision[0].script' });
    expect(p.message).toContain(`it is a link to ${path.join(root, 'outside.sh')}`);
  });

  it('suggests a step kind for an unknown one', () => {
    const p = one('domain: village.test', 'nodes:', '  redis1:', '    provision:', '      - shel: echo hi');
    expect(p).toMatchObject({ line: 5, column: 9, path: 'nodes.redis1.provision[0].shel', message: 'unknown key "shel"' });
    expect(p.hint).toBe('did you mean shell? valid keys here: shell, script, puppet, ansible, changed_exit');

    const [missing, unknown] = problems('provision:', '  - puppet: { manfest: site.pp }', 'nodes: { redis1.village.test: }');
    expect(missing).toMatchObject({ line: 2, column: 5, path: 'provision[0].puppet', message: 'missing manifest:' });
    expect(unknown).toMatchObject({ line: 2, column: 15, path: 'provision[0].puppet.manfest', message: 'unknown key "manfest"' });
    expect(unknown.hint).toBe('did you mean manifest? valid keys here: manifest, modulepath, hiera_config');
  });

  it('rejects a step with two kinds, and steps that are not a map of one kind', () => {
    let p = one(
      'domain: village.test',
      'nodes:',
      '  redis1:',
      '    provision:',
      '      - shell: echo hi',
      '        script: scripts/setup.sh',
    );
    expect(p).toMatchObject({ line: 5, column: 9, path: 'nodes.redis1.provision[0]' });
    expect(p.message).toBe('a step does one thing, but this one has shell and script');
    expect(p.hint).toBe('split it into one step per kind: - shell: ..., then - script: ...');

    const found = problems('provision:', '  - {}', '  - echo hi', '  - shell:', 'validate: x', 'nodes: { redis1.village.test: }');
    expect(found.map((q) => [q.line, q.column, q.path, q.message])).toEqual([
      [2, 5, 'provision[0]', 'is an empty step'],
      [3, 5, 'provision[1]', 'must be a map with one of shell, script, puppet, ansible, not a string ("echo hi")'],
      [4, 5, 'provision[2].shell', 'is empty; expected a shell script'],
    ]);

    p = one('provision: echo hi', 'nodes: { redis1.village.test: }');
    expect(p).toMatchObject({ line: 1, column: 12, path: 'provision', message: 'must be a list of steps, not a string ("echo hi")' });
  });
});

describe('needs', () => {
  it('resolves needs by short name, full name and node.fact', () => {
    const spec = parse(
      'domain: village.test',
      'nodes:',
      '  redis1.village.test:',
      '  redis2:',
      '    needs: redis1',
      '  app:',
      '    needs:',
      '      - redis1.village.test',
      '      - redis2.redis_role',
      '      - redis1.village.test.redis_role',
      '  web: { needs: [app] }',
    );
    expect(spec.nodes.map((n) => [n.shortName, n.needs])).toEqual([
      ['redis1', []],
      ['redis2', [{ node: 'redis1.village.test' }]],
      [
        'app',
        [
          { node: 'redis1.village.test' },
          { node: 'redis2.village.test', fact: 'redis_role' },
          { node: 'redis1.village.test', fact: 'redis_role' },
        ],
      ],
      ['web', [{ node: 'app.village.test' }]],
    ]);
    expect(node(spec, 'redis2').needs[0]).not.toHaveProperty('fact', expect.anything());
  });

  it('rejects needs naming an unknown node or a bad fact', () => {
    const found = problems(
      'domain: village.test',
      'nodes:',
      '  redis1:',
      '  app:',
      '    needs:',
      '      - redis1',
      '      - redis3',
      '      - cache.redis_role',
      '      - redis1.other.test',
      '      - redis1.Role',
      '      - 42',
    );
    expect(found.map((p) => [p.line, p.column, p.path, p.message])).toEqual([
      [7, 9, 'nodes.app.needs[1]', '"redis3" names no node of this rig'],
      [8, 9, 'nodes.app.needs[2]', '"cache.redis_role" names no node of this rig'],
      [9, 9, 'nodes.app.needs[3]', '"redis1.other.test" names no node of this rig'],
      [10, 9, 'nodes.app.needs[4]', '"Role" is not a valid fact name'],
      [11, 9, 'nodes.app.needs[5]', 'must be a node name or node.fact, not a number (42)'],
    ]);
    expect(found[0].hint).toBe('use a node name, or node.fact; nodes: redis1, app');
  });

  it('rejects a node that needs itself', () => {
    let p = one('domain: village.test', 'nodes:', '  redis1:', '  app:', '    needs: app');
    expect(p).toMatchObject({ line: 5, column: 12, path: 'nodes.app.needs', message: 'a node cannot need itself' });
    p = one('domain: village.test', 'nodes:', '  app:', '    needs: [redis1.village.test, app.village.test.ready]', '  redis1:');
    expect(p).toMatchObject({ line: 4, column: 34, path: 'nodes.app.needs[1]', message: 'a node cannot need itself' });
  });

  it("rejects a cycle of two at the first node's needs", () => {
    const p = one(
      'domain: village.test',
      'nodes:',
      '  redis1:',
      '  app:',
      '    needs: [redis1, web]',
      '  web:',
      '    needs:',
      '      - app.ready',
    );
    expect(p).toMatchObject({
      line: 5,
      column: 5,
      path: 'nodes.app.needs',
      message: 'dependency cycle: app.village.test -> web.village.test -> app.village.test',
    });
    expect(p.hint).toContain('remove one of these needs');
  });

  it('rejects a cycle of three, reported where the cycle starts', () => {
    const p = one(
      'domain: village.test',
      'nodes:',
      '  lb:',
      '    needs: [app]',
      '  app:',
      '    needs: [db]',
      '  db.village.test:',
      '    needs: cache',
      '  cache:',
      '    needs:',
      '      - app.schema_loaded',
    );
    expect(p).toMatchObject({
      line: 6,
      column: 5,
      path: 'nodes.app.needs',
      message: 'dependency cycle: app.village.test -> db.village.test -> cache.village.test -> app.village.test',
    });
  });
});

describe('validate', () => {
  it('takes one command or a list', () => {
    const spec = parse(
      'domain: village.test',
      'validate: systemctl is-system-running',
      'nodes:',
      '  redis1:',
      '    validate: redis-cli ping',
      '  app:',
      '    validate:',
      '      - curl -fs localhost:8080/health',
      '      - test -f /etc/app.conf',
      '  web:',
    );
    expect(spec.nodes.map((n) => n.validate)).toEqual([
      ['redis-cli ping'],
      ['curl -fs localhost:8080/health', 'test -f /etc/app.conf'],
      ['systemctl is-system-running'],
    ]);
  });

  it('rejects what is not a command, each where it is', () => {
    const found = problems('domain: village.test', 'validate: { cmd: x }', 'nodes:', '  redis1:', '    validate: [redis-cli ping, 3, ""]');
    expect(found.map((p) => [p.line, p.column, p.path, p.message])).toEqual([
      [2, 11, 'validate', 'must be a shell command or a list of them, not a map'],
      [5, 32, 'nodes.redis1.validate[1]', 'must be a shell command, not a number (3)'],
      [5, 35, 'nodes.redis1.validate[2]', 'must be a shell command, not an empty string'],
    ]);
  });
});

describe('update', () => {
  beforeEach(() => {
    fs.mkdirSync(at('ansible'));
    fs.writeFileSync(at('ansible/upgrade.yml'), '- hosts: all\n');
  });

  it('takes commands and ansible: steps, each playbook relative to the rig file (as recorded on the node)', () => {
    const spec = parse(
      'domain: village.test',
      'update: apt-get install -y --only-upgrade redis-server',
      'nodes:',
      '  redis1:',
      '    update:',
      '      - systemctl stop app',
      '      - ansible: ./ansible/upgrade.yml',
      '      - ansible: { playbook: ansible/../ansible/upgrade.yml }',
      '  app:',
    );
    expect(spec.nodes.map((n) => n.update)).toEqual([
      ['systemctl stop app', { ansible: 'ansible/upgrade.yml' }, { ansible: 'ansible/upgrade.yml' }],
      ['apt-get install -y --only-upgrade redis-server'],
    ]);
    const wide = parse('domain: village.test', 'update: [{ ansible: ansible/upgrade.yml }, "true"]', 'nodes: { redis1: }');
    expect(wide.nodes[0].update).toEqual([{ ansible: 'ansible/upgrade.yml' }, 'true']);
  });

  it('reports a playbook that is not there or outside, at its line, and what is no step', () => {
    const found = problems(
      'domain: village.test',
      'update:',
      '  - ansible: ansible/missing.yml',
      '  - ansible: { playbook: ../outside.sh }',
      '  - { shell: x }',
      '  - ansible: {}',
      '  - 3',
      'nodes: { redis1: }',
    );
    expect(found.map((p) => [p.line, p.path, p.message])).toEqual([
      [3, 'update[0].ansible', `playbook ansible/missing.yml does not exist (looked for ${at('ansible/missing.yml')})`],
      [4, 'update[1].ansible.playbook', "../outside.sh is outside the rig file's directory, which is all the nodes can see"],
      [5, 'update[2]', 'missing ansible:'],
      [5, 'update[2].shell', 'unknown key "shell"'],
      [6, 'update[3].ansible', 'missing playbook:'],
      [7, 'update[4]', 'must be a shell command or a map with ansible:, not a number (3)'],
    ]);
    expect(found[3].hint).toBe('valid keys here: ansible; a command is a string in the list: - systemctl restart app');
  });

  it('reads back what a node records, leaving out what is no step', () => {
    const steps = ['true', { ansible: 'ansible/upgrade.yml' }];
    expect(recordedUpdate(JSON.stringify(steps))).toEqual(steps);
    expect(recordedUpdate(JSON.stringify([...steps, 3, { ansible: '' }, { shell: 'x' }, null]))).toEqual(steps);
    expect(recordedUpdate('not json')).toEqual([]);
    expect(recordedUpdate('{"ansible":"x.yml"}')).toEqual([]);
    expect(recordedUpdate(undefined)).toEqual([]);
  });
});

describe('changed_exit', () => {
  it('lets a shell or script step say by an exit code that it changed something; not puppet; 1 to 255', () => {
    const spec = parseRigFile(
      ['provision:', '  - { shell: ./converge.sh, changed_exit: 2 }', 'nodes: { redis1.village.test: }'].join('\n'),
      '/work/rigs/t.yaml',
    );
    expect(spec.nodes[0].provision).toEqual([{ kind: 'shell', script: './converge.sh', changedExit: 2 }]);
    const bad = (step: string) => {
      try {
        parseRigFile(['provision:', `  - ${step}`, 'nodes: { redis1.village.test: }'].join('\n'), '/work/rigs/t.yaml');
        return undefined;
      } catch (err) {
        return (err as { problems: Array<{ path: string; message: string }> }).problems.find((p) => p.path.endsWith('changed_exit'));
      }
    };
    expect(bad('{ shell: x, changed_exit: 0 }')).toMatchObject({
      path: 'provision[0].changed_exit',
      message: expect.stringContaining('an exit code from 1 to 255'),
    });
    expect(bad('{ puppet: site.pp, changed_exit: 2 }')).toMatchObject({
      path: 'provision[0].changed_exit',
      message: 'is for shell: and script: steps',
    });
    expect(bad('{ changed_exit: 2 }')).toMatchObject({
      path: 'provision[0].changed_exit',
      message: 'needs a shell: or script: step beside it',
    });
  });
});

describe('changed_exit errors', () => {
  it('are reported at their line and key, with a hint', () => {
    const p = one('domain: village.test', 'provision:', '  - shell: ./converge.sh', '    changed_exit: 300', 'nodes: { redis1: }');
    expect(p).toMatchObject({ line: 4, path: 'provision[0].changed_exit', message: expect.stringContaining('an exit code from 1 to 255') });
    expect(p.hint).toContain('changed_exit: 2');
    const text = one('domain: village.test', 'nodes:', '  redis1:', '    provision:', '      - { shell: x, changed_exit: two }');
    expect(text).toMatchObject({ line: 5, path: 'nodes.redis1.provision[0].changed_exit' });
  });
});
