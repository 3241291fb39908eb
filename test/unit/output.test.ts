import { describe, expect, it } from 'vitest';
import { jsonAsked } from '../../src/cli/output.js';

describe('jsonAsked', () => {
  it("sees --json among rig's own arguments, not among a command's after --", () => {
    expect(jsonAsked(['status', '--json'])).toBe(true);
    expect(jsonAsked(['--json', 'up'])).toBe(true);
    expect(jsonAsked(['status'])).toBe(false);
    expect(jsonAsked(['exec', 'n', '--', 'tool', '--json'])).toBe(false);
    expect(jsonAsked(['run', 'rig.yaml', '--json', '--', 'x'])).toBe(true);
  });
});
