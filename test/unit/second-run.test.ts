import { describe, expect, it } from 'vitest';
import { secondRun } from '../../src/cli/commands/provision.js';

describe('secondRun: what a clean provision --idempotent says of its second run', () => {
  it('says it changed nothing when every step can say it changed something', () => {
    expect(secondRun([{ kind: 'puppet', manifest: '/r/site.pp' }])).toBe('second run changed nothing');
    expect(
      secondRun([
        { kind: 'shell', script: 'x', changedExit: 2 },
        { kind: 'script', path: '/r/a.sh', changedExit: 3 },
      ]),
    ).toBe('second run changed nothing');
    expect(secondRun([])).toBe('second run changed nothing');
  });

  it('says which steps cannot tell (no changed_exit), and that the run succeeded', () => {
    expect(secondRun([{ kind: 'shell', script: 'x' }])).toBe(
      'second run succeeded (step 1/1 (shell) cannot tell whether it changed anything: no changed_exit)',
    );
    expect(
      secondRun([
        { kind: 'puppet', manifest: '/r/site.pp' },
        { kind: 'shell', script: 'x' },
        { kind: 'script', path: '/r/a.sh' },
      ]),
    ).toBe(
      'second run succeeded (step 1/3 (puppet) changed nothing; step 2/3 (shell), step 3/3 (script) cannot tell whether they changed anything: no changed_exit)',
    );
  });

  it("says only that it succeeded without the node's steps", () => expect(secondRun(undefined)).toBe('second run succeeded'));
});
