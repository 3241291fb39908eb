import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onlyProblem, problemsOf } from './rigfile-problems.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import type { RigSpec } from '../../src/rigfile/types.js';
import { contextEntries, ignored, parseDockerignore, resolveBases, rigBases } from '../../src/rigfile/build-context.js';
import { buildRef } from '../../src/runtime/docker/build.js';
import { tarArchive } from '../../src/runtime/docker/tar.js';
import { planRig, summarizePlan } from '../../src/plan/plan.js';

// <root>/rig/rig.yaml (the text is parsed, not read), <root>/rig/web/{Dockerfile,app.sh}, <root>/other/Other.Dockerfile
let root: string;
let dir: string;
let file: string;

beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rig-build-test-')));
  dir = path.join(root, 'rig');
  file = path.join(dir, 'rig.yaml');
  fs.mkdirSync(path.join(dir, 'web'), { recursive: true });
  fs.mkdirSync(path.join(root, 'other'));
  fs.writeFileSync(path.join(dir, 'web', 'Dockerfile'), 'FROM rig:base\nCOPY app.sh /app.sh\n');
  fs.writeFileSync(path.join(dir, 'web', 'app.sh'), 'echo hi\n', { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'other', 'Other.Dockerfile'), 'FROM rig:systemd AS one\nFROM busybox\n');
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const parse = (...lines: string[]): RigSpec => parseRigFile(lines.join('\n') + '\n', file);
const nodes = (...lines: string[]) => parse('domain: b.test', 'network: { internal: true }', ...lines).nodes;

const problems = (...lines: string[]) => problemsOf(() => parse('domain: b.test', ...lines));
const one = (...lines: string[]) => onlyProblem(problems(...lines));

describe('build: in the rig file', () => {
  it('takes a directory, relative to the rig file, with its Dockerfile and the rig images it is FROM', () => {
    const [a] = nodes('nodes:', '  a:', '    build: ./web');
    expect(a.build).toMatchObject({
      context: path.join(dir, 'web'),
      dockerfile: 'Dockerfile',
      args: {},
      bases: [{ name: 'base', line: 1 }],
      line: 5,
    });
    expect(a.build!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.image).toBeUndefined();
  });

  it('takes the long form: context, dockerfile, args (as strings), a context outside the rig file’s directory', () => {
    const [a] = nodes('nodes:', '  a:', '    build: { context: ../other, dockerfile: Other.Dockerfile, args: { V: 1.5, ON: true, S: x } }');
    expect(a.build).toMatchObject({
      context: path.join(root, 'other'),
      dockerfile: 'Other.Dockerfile',
      args: { V: '1.5', ON: 'true', S: 'x' },
      bases: [{ name: 'systemd', line: 1 }],
    });
  });

  it('rig-wide: every node builds it, unless it has its own image: or build:', () => {
    const [a, b, c] = nodes(
      'build: ./web',
      'nodes:',
      '  a:',
      '  b: { image: busybox }',
      '  c: { build: { context: ../other, dockerfile: Other.Dockerfile } }',
    );
    expect(a.build?.context).toBe(path.join(dir, 'web'));
    expect([b.image, b.build]).toEqual(['busybox', undefined]);
    expect(c.build?.context).toBe(path.join(root, 'other'));
    const [d] = nodes('image: busybox', 'nodes:', '  d: { build: ./web }');
    expect([d.image, d.build?.dockerfile]).toEqual([undefined, 'Dockerfile']);
  });

  it('refuses image: and build: side by side, at the build: key', () => {
    const p = one('nodes:', '  a: { image: busybox, build: ./web }');
    expect([p.line, p.path, p.message]).toEqual([
      3,
      'nodes.a.build',
      'image: and build: are both set; rig builds an image or takes one, not both',
    ]);
    expect(one('image: busybox', 'build: ./web', 'nodes:', '  a:').path).toBe('build');
  });

  it('reports a missing context, a context that is a file, a missing Dockerfile, one outside the context, at their lines', () => {
    const missing = one('nodes:', '  a:', '    build: ./nope');
    expect([missing.line, missing.message]).toEqual([4, `build context ./nope does not exist (looked for ${path.join(dir, 'nope')})`]);
    expect(one('nodes:', '  a: { build: ./web/app.sh }').message).toContain('is not a directory');
    fs.rmSync(path.join(dir, 'web', 'Dockerfile'));
    const noFile = one('nodes:', '  a:', '    build: ./web');
    expect(noFile.message).toBe(`no Dockerfile Dockerfile in the build context ./web (looked for ${path.join(dir, 'web', 'Dockerfile')})`);
    expect(noFile.hint).toContain('dockerfile:');
    const named = one('nodes:', '  a:', '    build:', '      context: ../other', '      dockerfile: Nope');
    expect([named.line, named.path]).toEqual([6, 'nodes.a.build.dockerfile']);
    expect(one('nodes:', '  a: { build: { context: ./web, dockerfile: ../../other/Other.Dockerfile } }').message).toContain(
      'is outside the build context',
    );
  });

  it('reports bad args, unknown keys and a long form without context: through the schema, with the fix', () => {
    const list = one('nodes:', '  a: { build: { context: ./web, args: [A=1] } }');
    expect([list.path, list.message]).toEqual(['nodes.a.build.args', 'must be a map of build arguments, not a list']);
    expect(one('nodes:', '  a: { build: { context: ./web, args: { A: [1] } } }').message).toBe(
      'must be a string, number or true/false, not a list',
    );
    const unknown = one('nodes:', '  a: { build: { context: ./web, dockerfil: X } }');
    expect(unknown.message).toBe('unknown key "dockerfil"');
    expect(unknown.hint).toContain('did you mean dockerfile?');
    expect(one('nodes:', '  a: { build: { dockerfile: X } }').message).toContain('missing');
    expect(one('nodes:', '  a: { build: 3 }').message).toContain('must be a directory or a map');
  });

  it('hashes what the build is sent: a file’s content and mode, the Dockerfile, the args; not what .dockerignore leaves out', () => {
    const hash = () => nodes('nodes:', '  a: { build: { context: ./web, args: { A: "1" } } }')[0].build!.hash;
    const first = hash();
    expect(hash()).toBe(first);
    fs.writeFileSync(path.join(dir, 'web', 'notes.tmp'), 'scratch');
    const withTmp = hash();
    expect(withTmp).not.toBe(first);
    fs.writeFileSync(path.join(dir, 'web', '.dockerignore'), '# scratch\n*.tmp\n');
    const ignoring = hash();
    fs.writeFileSync(path.join(dir, 'web', 'notes.tmp'), 'other scratch');
    expect(hash()).toBe(ignoring);
    fs.chmodSync(path.join(dir, 'web', 'app.sh'), 0o755);
    const executable = hash();
    expect(executable).not.toBe(ignoring);
    fs.appendFileSync(path.join(dir, 'web', 'Dockerfile'), 'RUN true\n');
    expect(hash()).not.toBe(executable);
    const otherArg = nodes('nodes:', '  a: { build: { context: ./web, args: { A: "2" } } }')[0].build!.hash;
    expect(otherArg).not.toBe(hash());
  });

  it('makes a node’s settings, and so up’s comparison, change with its build', () => {
    const settings = () => JSON.stringify(nodes('nodes:', '  a: { build: ./web }')[0]);
    const before = settings();
    fs.writeFileSync(path.join(dir, 'web', 'app.sh'), 'echo changed\n');
    expect(settings()).not.toBe(before);
  });

  it('shows a build in up --dry-run', () => {
    const plan = planRig(parse('domain: b.test', 'nodes:', '  a: { build: ./web }'));
    const [a] = summarizePlan(plan).nodes;
    expect(a.image).toBe(`built from ${path.join(dir, 'web', 'Dockerfile')}`);
    expect(a.build).toEqual({ context: path.join(dir, 'web'), dockerfile: 'Dockerfile', args: {} });
  });
});

describe('build contexts', () => {
  it('reads .dockerignore as Docker does: the last matching pattern wins, a parent’s match counts, ! takes back', () => {
    const patterns = parseDockerignore('# c\n\nlogs\n*.md\n!README.md\n**/cache\n/tmp/*.o\n');
    expect(ignored(patterns, 'logs/today.txt')).toBe(true);
    expect(ignored(patterns, 'notes.md')).toBe(true);
    expect(ignored(patterns, 'README.md')).toBe(false);
    expect(ignored(patterns, 'docs/notes.md')).toBe(false); // * does not cross /
    expect(ignored(patterns, 'a/b/cache/x')).toBe(true);
    expect(ignored(patterns, 'cache')).toBe(true);
    expect(ignored(patterns, 'tmp/x.o')).toBe(true);
    expect(ignored(patterns, 'app.sh')).toBe(false);
  });

  it('lists a context’s entries sorted, keeping the Dockerfile even when .dockerignore names it', () => {
    const ctx = path.join(dir, 'web');
    fs.mkdirSync(path.join(ctx, 'sub'));
    fs.writeFileSync(path.join(ctx, 'sub', 'f'), '');
    fs.symlinkSync('sub/f', path.join(ctx, 'link'));
    fs.writeFileSync(path.join(ctx, '.dockerignore'), 'Dockerfile\n');
    expect(contextEntries(ctx, 'Dockerfile').map((e) => [e.path, e.type])).toEqual([
      ['.dockerignore', 'file'],
      ['Dockerfile', 'file'],
      ['app.sh', 'file'],
      ['link', 'symlink'],
      ['sub', 'directory'],
      ['sub/f', 'file'],
    ]);
  });

  it('finds and resolves FROM rig:NAME lines, stages and --platform kept, other images left alone', () => {
    const text = 'ARG X\nFROM rig:base AS b\nfrom --platform=linux/amd64 rig:puppet\nFROM busybox\nRUN echo rig:base\n';
    expect(rigBases(text)).toEqual([
      { name: 'base', line: 2 },
      { name: 'puppet', line: 3 },
    ]);
    expect(resolveBases(text, (n) => `rig/${n}:abc`)).toBe(
      'ARG X\nFROM rig/base:abc AS b\nfrom --platform=linux/amd64 rig/puppet:abc\nFROM busybox\nRUN echo rig:base\n',
    );
  });

  it('tags a build by its hash and the tags of the rig images it is FROM', () => {
    const [a] = nodes('nodes:', '  a: { build: ./web }');
    const ref = buildRef(a.build!, (n) => `rig/${n}:one`);
    expect(ref).toMatch(/^rig-build\/web:[0-9a-f]{12}$/);
    expect(buildRef(a.build!, (n) => `rig/${n}:one`)).toBe(ref);
    expect(buildRef(a.build!, (n) => `rig/${n}:two`)).not.toBe(ref); // rig's base image changed
  });

  it('writes a tar that tar reads back: files with their modes, directories, symlinks, long names', () => {
    const long = `${'d'.repeat(60)}/${'f'.repeat(70)}`;
    const archive = tarArchive([
      { path: 'dir', type: 'directory', mode: 0o755 },
      { path: 'dir/run.sh', type: 'file', mode: 0o755, content: Buffer.from('echo hi\n') },
      { path: 'link', type: 'symlink', mode: 0o777, target: 'dir/run.sh' },
      { path: long, type: 'file', mode: 0o600, content: Buffer.alloc(1000, 'x') },
    ]);
    const out = path.join(root, 'untar');
    fs.mkdirSync(out);
    execFileSync('tar', ['-x', '-C', out], { input: archive });
    expect(fs.readFileSync(path.join(out, 'dir/run.sh'), 'utf8')).toBe('echo hi\n');
    expect(fs.statSync(path.join(out, 'dir/run.sh')).mode & 0o777).toBe(0o755);
    expect(fs.readlinkSync(path.join(out, 'link'))).toBe('dir/run.sh');
    expect(fs.readFileSync(path.join(out, long)).length).toBe(1000);
  });
});
