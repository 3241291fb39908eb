import { describe, expect, it } from 'vitest';
import { rig } from './helpers.js';

describe('help that teaches', () => {
  it("shows examples in each command's help", async () => {
    for (const command of ['up', 'down', 'status', 'ls', 'check', 'facts', 'logs', 'exec', 'run', 'test']) {
      const help = await rig([command, '--help']);
      expect(help.exitCode).toBe(0);
      expect(help.stdout, command).toMatch(new RegExp(`Examples:\\n  \\$ rig ${command}\\b`));
    }
  });

  it('answers a usage error with the one-line usage and where to read more, not the whole help', async () => {
    const missing = await rig(['up']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toBe("error: missing required argument 'rigfile'\nusage: rig up [options] <rigfile>\n(more: rig up --help)");
    const unknown = await rig(['up', '--bogus', 'x.yaml']);
    expect(unknown.stderr).toContain("error: unknown option '--bogus'\nusage: rig up [options] <rigfile>");
  });

  it('suggests the command meant by a typo', async () => {
    const typo = await rig(['stauts']);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toContain("error: unknown command 'stauts'\n(Did you mean status?)");
  });
});
