import { describe, expect, it } from 'vitest';
import { closest, editDistance, noSuchRig, shortList, unknownNode } from '../../src/engine/which-nodes.js';

describe('names that are not there (issue 21, items 5 and 6)', () => {
  it('counts a typo as one edit: a letter more, less, changed or two swapped', () => {
    expect(editDistance('barnn', 'barn')).toBe(1);
    expect(editDistance('brn', 'barn')).toBe(1);
    expect(editDistance('bern', 'barn')).toBe(1);
    expect(editDistance('bran', 'barn')).toBe(1);
    expect(editDistance('web1', 'well')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests the closest names only, and none for a name like none', () => {
    expect(closest('barnn', ['barn', 'mill', 'well', 'byre'])).toEqual(['barn']);
    expect(closest('villag', ['village', 'villa-two', 'other'])).toEqual(['village']);
    expect(closest('web1', ['well', 'mill'])).toEqual([]);
    expect(closest('zzzzzz', ['barn', 'mill'])).toEqual([]);
    expect(closest('mil', ['mill', 'mile', 'milk', 'milt'])).toHaveLength(3); // at most three
  });

  it('lists six names, then how many more and where to see them', () => {
    expect(shortList(['a', 'b'], 'rig ls')).toBe('a, b');
    expect(shortList(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 'rig ls')).toBe('a, b, c, d, e, f and 2 more (see them all with: rig ls)');
  });

  it('no rig of that name: exit 2, where the name came from, the closest and the rigs that are up', () => {
    const err = noSuchRig('villag', ['lab', 'village'], 'RIG_NAME');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('No rig named villag is up (the name is RIG_NAME, as rig run sets it).');
    expect(err.hint).toBe('did you mean village? the rigs that are up: lab, village');
    expect(noSuchRig('x', []).hint).toBe('no rig is up; bring one up with: rig up RIGFILE');
  });

  it('no such node: the closest node names with their rigs, else a short list', () => {
    const nodes = ['a', 'b'].flatMap((rig) => ['barn', 'mill', 'well'].map((n) => ({ rig, node: `${n}.village.test` })));
    expect(unknownNode('barnn', undefined, nodes).hint).toBe('did you mean barn (rig a, rig b)?');
    expect(unknownNode('barnn', 'a', nodes.slice(0, 3)).hint).toBe('did you mean barn?');
    expect(unknownNode('mill.village.tset', 'a', nodes.slice(0, 3)).hint).toBe('did you mean mill.village.test?');
    const many = Array.from({ length: 17 }, (_, i) => ({ rig: 'r', node: `n${String(i).padStart(2, '0')}.village.test` }));
    expect(unknownNode('zzzzzz', 'r', many).hint).toBe(
      'the nodes of rig r: n00, n01, n02, n03, n04, n05 and 11 more (see them all with: rig status --name r)',
    );
    expect(unknownNode('x', undefined, []).hint).toBe('no node is up; bring a rig up with: rig up RIGFILE');
  });
});
