import { expect } from 'vitest';
import { RigFileError, type Problem } from '../../src/errors.js';

/** What a rig file's parse reports as wrong: the problems of the RigFileError `parse` throws (it must throw one). */
export function problemsOf(parse: () => unknown): Problem[] {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(RigFileError);
    return (err as RigFileError).problems;
  }
  throw new Error('expected a RigFileError');
}

/** The one problem reported (in `file`, when given), with a hint that says how to fix it. */
export function onlyProblem(found: Problem[], file?: string): Problem {
  expect(found, JSON.stringify(found, null, 2)).toHaveLength(1);
  if (file !== undefined) expect(found[0].file).toBe(file);
  expect(found[0].hint).toBeTruthy();
  return found[0];
}
