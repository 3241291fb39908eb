import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { rigBin, useRig } from './helpers.js';

describe('rig exec and rig shell, on a Docker node and an LXC node', () => {
  const { name } = useRig(
    'exec',
    (name) =>
      `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  dock.village.test:\n  lex.village.test:\n    backend: lxc\n`,
  );
  const run = (args: string[], input?: string) =>
    execa('node', [rigBin, ...args], {
      env: { CI: 'true', RIG_NAME: name },
      reject: false,
      ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
    });

  it('refuses a node that is stopped or paused, saying how to bring it back (exit 2), alone or with --all', async () => {
    expect((await run(['stop', 'dock'])).exitCode).toBe(0);
    try {
      for (const args of [
        ['exec', 'dock', '--', 'true'],
        ['exec', '--all', '--', 'true'],
        ['shell', 'dock', '--no-tty'],
      ]) {
        const out = await run(args);
        expect({ args, code: out.exitCode, stderr: out.stderr }).toEqual({
          args,
          code: 2,
          stderr: 'rig: dock.village.test is not running.\nfix: start it: rig start dock',
        });
      }
    } finally {
      expect((await run(['start', 'dock'])).exitCode).toBe(0);
    }
    expect((await run(['pause', 'lex'])).exitCode).toBe(0);
    try {
      const out = await run(['exec', 'lex', '--', 'true']);
      expect(out.exitCode).toBe(2);
      expect(out.stderr).toBe('rig: lex.village.test is paused: it runs nothing until it is thawed.\nfix: thaw it: rig unpause lex');
    } finally {
      expect((await run(['unpause', 'lex'])).exitCode).toBe(0);
    }
    expect((await run(['exec', 'dock', '--', 'true'])).exitCode).toBe(0);
  });

  for (const node of ['dock', 'lex']) {
    it(`${node}: keeps stdout and stderr apart and returns the command's exit code`, async () => {
      const out = await run(['exec', node, '--', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3']);
      expect(out.exitCode).toBe(3);
      expect(out.stdout).toBe('to-out');
      expect(out.stderr).toBe('to-err');
    });

    it(`${node}: passes stdin with -i, and not without`, async () => {
      const withInput = await run(['exec', '-i', node, '--', 'sh', '-c', 'cat; echo end'], 'line one\nline two\n');
      expect(withInput.exitCode, withInput.stderr).toBe(0);
      expect(withInput.stdout).toBe('line one\nline two\nend');
      const without = await run(['exec', node, '--', 'sh', '-c', 'cat; echo end'], 'ignored\n');
      expect(without.stdout).toBe('end');
    });

    it(`${node}: gives a login shell with no command, on a terminal by default when rig's stdin is one`, async () => {
      const shell = await run(['shell', node, '--no-tty', '-i'], 'echo "shell of $(hostname)"; exit 4\n');
      expect(shell.exitCode).toBe(4);
      expect(shell.stdout).toContain(`shell of ${node}`);
      // script(1) gives rig a terminal: the command gets one too.
      const tty = await execa('script', ['-qec', `node ${rigBin} exec ${node} -- sh -c 'tty; exit 5'`, '/dev/null'], {
        env: { RIG_NAME: name },
        reject: false,
        stdin: 'ignore',
      });
      expect(tty.exitCode).toBe(5);
      expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
    });
  }
});
