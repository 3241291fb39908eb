import { describe, expect, it } from 'vitest';
import { problemsOf } from './rigfile-problems.js';
import { LIMITS, parseRigFile } from '../../src/rigfile/load.js';

const FILE = '/tmp/limits.yaml';

const problems = (text: string) => problemsOf(() => parseRigFile(text, FILE));

/** The billion laughs: each level an alias list of ten of the level before. */
const aliasBomb = (levels: number) =>
  [
    'name: bomb',
    'facts:',
    '  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]',
    ...Array.from({ length: levels }, (_, i) => `  l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(', ')}]`),
    'nodes:',
    '  a.bomb.test:',
  ].join('\n');

describe('limits on what a rig file holds', () => {
  it('refuses an alias bomb at once, before anything expands it', () => {
    const [p] = problems(aliasBomb(9));
    expect(p.message).toContain(`expands to more than ${LIMITS.values} values`);
    expect(p).toMatchObject({ line: 1, column: 1 });
  });

  it('still takes ordinary aliases', () => {
    const spec = parseRigFile('name: ok\nfacts:\n  ports: &p [80, 443]\nnodes:\n  a.ok.test:\n    facts: { also: *p }\n', FILE);
    expect(spec.nodes[0].facts).toEqual({ ports: '[80,443]', also: '[80,443]' });
  });

  it('refuses a file over the size limit', () => {
    const [p] = problems(`name: big\nnodes:\n  a.big.test:\n# ${'x'.repeat(LIMITS.fileBytes)}\n`);
    expect(p.message).toMatch(/the rig file is \d+ KiB; rig reads rig files of at most 1024 KiB/);
  });

  it('refuses a fact over the size limit, at its key', () => {
    const [p] = problems(`name: f\nnodes:\n  a.f.test:\n    facts:\n      blob: ${'x'.repeat(LIMITS.factBytes + 1)}\n`);
    expect(p).toMatchObject({ line: 5, path: 'nodes["a.f.test"].facts.blob' });
    expect(p.message).toContain('a fact may hold at most 16 KiB');
  });

  it('refuses a node whose facts together exceed the limit', () => {
    const facts = Array.from({ length: 5 }, (_, i) => `      f${i}: ${'x'.repeat(LIMITS.factBytes - 100)}`);
    const [p] = problems(['name: f', 'nodes:', '  a.f.test:', '    facts:', ...facts].join('\n'));
    expect(p).toMatchObject({ line: 3, path: 'nodes["a.f.test"]' });
    expect(p.message).toContain("custom facts come to 80 KiB; a node's custom facts may take at most 64 KiB");
  });

  it('takes keys as written: a key YAML reads as a number or null is an error at its line', () => {
    const found = problems('name: keys\nnodes:\n  0x1f:\n  1e3:\n  "0x20":\n  ~:\n');
    expect(found.map((p) => [p.line, p.message])).toEqual([
      [3, 'YAML reads the key 0x1f as the number 31, not as the name 0x1f'],
      [4, 'YAML reads the key 1e3 as the number 1000, not as the name 1e3'],
      [6, 'YAML reads the key ~ as null, not as the name ~'],
    ]);
    expect(found[0].hint).toBe('rig takes keys as names: quote it ("0x1f") to mean the name as written');
  });

  it('takes a quoted numeric-looking key as the name written', () => {
    expect(parseRigFile('name: keys\ndomain: k.test\nnodes:\n  "0x1f":\n', FILE).nodes.map((n) => n.name)).toEqual(['0x1f.k.test']);
  });
});
