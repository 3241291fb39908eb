import { join } from 'node:path';
import { streamConsoleLog } from '../lxc/console-log.js';
import { waitForLines } from '../log-wait.js';

/** Where rig has LXC write an LXD instance's console (its init's output): rig's cache, on this host. */
export const consoleDir = (cacheDir: string, instance: string) => join(cacheDir, 'lxd-console', instance);

/**
 * Follow an instance's console log (from now on if `newOnly`) until it has shown a line matching every pattern;
 * resolves once it is followed, to the wait for the match (so what the instance prints after that is not missed).
 * The wait rejects at `timeoutMs`, with the log's last lines.
 */
export async function watchConsole(
  dir: string,
  patterns: RegExp[],
  timeoutMs: number,
  { newOnly = false } = {},
): Promise<() => Promise<void>> {
  // From now on: each pattern must match once more than it has in the log so far (followed from its start, so no
  // line written while the follower opens it is lost).
  const seen = new Map(patterns.map((p) => [p, 0]));
  if (newOnly) {
    const count = (line: string) => patterns.forEach((p) => p.test(line) && seen.set(p, seen.get(p)! + 1));
    await streamConsoleLog(dir, { follow: false, timestamps: false }, count, new AbortController().signal);
  }
  const stop = new AbortController();
  const matched = waitForLines(
    (onLine) => streamConsoleLog(dir, { follow: true, timestamps: false }, onLine, stop.signal),
    (line) => {
      for (const [pattern, left] of seen) if (pattern.test(line)) seen.set(pattern, left - 1);
      return [...seen.values()].every((left) => left < 0);
    },
    { timeoutMs, ended: 'stopped', release: () => stop.abort() },
  );
  return () => matched;
}
