import { describe, expect, it } from 'vitest';
import { CommandError, runCommand } from '../../src/runtime/command.js';

describe('runCommand', () => {
  it('collects stdout, stderr and both in order, and feeds stdin', async () => {
    const result = await runCommand('sh', ['-c', 'read line; echo "out $line"; echo err >&2'], { input: 'hello\n' });
    expect(result).toMatchObject({ exitCode: 0, stdout: 'out hello\n', stderr: 'err\n', output: 'out hello\nerr\n' });
  });

  it('rejects a non-zero exit with the command and its stderr, unless failure is allowed', async () => {
    const failing = runCommand('sh', ['-c', 'echo broken >&2; exit 3']);
    await expect(failing).rejects.toBeInstanceOf(CommandError);
    await expect(failing).rejects.toThrow('sh -c echo broken >&2; exit 3 exited 3: broken');
    expect((await runCommand('sh', ['-c', 'exit 4'], { allowFailure: true })).exitCode).toBe(4);
  });

  it('says ENOENT for a program that is not installed, even when failure is allowed', async () => {
    const missing = await runCommand('no-such-program-rig', [], { allowFailure: true }).catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(CommandError);
    expect((missing as CommandError).code).toBe('ENOENT');
  });
});
