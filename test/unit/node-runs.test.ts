import { describe, expect, it } from 'vitest';
import { eachResult } from '../../src/engine/node-runs.js';

const M = 'rig-each-0123456789abcdef';

describe("several checks' output from one exec (NodeRuns.runEach)", () => {
  it("splits it back into each command's output, exit code and seconds, as each printed it", () => {
    const output = `ok\n\n${M} 0 100.25 100.50\npartial line\n${M} 3 100.50 101.00\n\n${M} 0 101.00 101.00\n`;
    expect(eachResult(output, M)).toEqual({
      done: [
        { exitCode: 0, output: 'ok\n', seconds: 0.25 },
        { exitCode: 3, output: 'partial line', seconds: 0.5 },
        { exitCode: 0, output: '', seconds: 0 },
      ],
      rest: '',
    });
  });

  it('keeps what came after the last marker (a command the loop did not finish), and takes no other marker for its own', () => {
    const output = `a\n${M} 0 1.00 1.10\nrig-each-ffffffffffffffff 0 1 2\nstill running`;
    expect(eachResult(output, M)).toEqual({
      done: [{ exitCode: 0, output: 'a', seconds: expect.closeTo(0.1, 5) }],
      rest: 'rig-each-ffffffffffffffff 0 1 2\nstill running',
    });
  });
});
