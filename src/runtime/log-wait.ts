/** How many of its last lines a log shows when a wait on it fails. */
const TAIL_LINES = 8;

/**
 * The wait for a log, as `follow` feeds its lines, to show what `matched` looks for (true once it has seen it all).
 * Rejects at `timeoutMs`, or when the log ends first (`ended`: why it does, e.g. "exited"), with the log's last
 * lines; `release` runs once the wait is over, whichever way. Nobody need wait on it: a failure unheard is no crash.
 */
export function waitForLines(
  follow: (onLine: (line: string) => void) => Promise<void>,
  matched: (line: string) => boolean,
  { timeoutMs, ended, release }: { timeoutMs: number; ended: string; release: () => void },
): Promise<void> {
  const last: string[] = [];
  const tail = () => last.join('\n');
  const wait = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs / 1000} s; its log ends:\n${tail()}`)), timeoutMs);
    const onLine = (line: string) => {
      if (last.push(line) > TAIL_LINES) last.shift();
      if (matched(line)) resolve();
    };
    follow(onLine)
      .then(
        () => reject(new Error(`${ended} before it was ready; its log ends:\n${tail()}`)),
        (err: Error) => reject(err),
      )
      .finally(() => clearTimeout(timer));
  }).finally(release);
  wait.catch(() => {}); // whoever waits for it handles the failure
  return wait;
}
