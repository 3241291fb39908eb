import { describe, expect, it } from 'vitest';
import { waitForLines } from '../../src/runtime/log-wait.js';

/** A log that gives its lines, then ends (or never does). */
const logOf =
  (lines: string[], { ends }: { ends: boolean }) =>
  async (onLine: (line: string) => void) => {
    lines.forEach(onLine);
    if (!ends) await new Promise(() => {});
  };

describe('waitForLines: a wait on a log', () => {
  it('resolves at the line that completes it, and releases the log', async () => {
    let released = 0;
    const wait = waitForLines(logOf(['a', 'ready', 'b'], { ends: false }), (l) => l === 'ready', {
      timeoutMs: 5_000,
      ended: 'exited',
      release: () => released++,
    });
    await expect(wait).resolves.toBeUndefined();
    expect(released).toBe(1);
  });

  it('rejects when the log ends first, with why and its last 8 lines', async () => {
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i}`);
    const wait = waitForLines(logOf(lines, { ends: true }), () => false, { timeoutMs: 5_000, ended: 'exited', release: () => {} });
    const err = await wait.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toBe(`exited before it was ready; its log ends:\n${lines.slice(4).join('\n')}`);
  });

  it('rejects at its deadline with the lines so far', async () => {
    const wait = waitForLines(logOf(['booting'], { ends: false }), () => false, { timeoutMs: 50, ended: 'stopped', release: () => {} });
    await expect(wait).rejects.toThrow('not ready after 0.05 s; its log ends:\nbooting');
  });
});
