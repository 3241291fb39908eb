import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A watchdog for a rig while `up` or `run` works on it: a detached process that holds a pipe from this one.
 * If this process dies in any way (SIGKILL included), the pipe closes and the reaper takes the rig down at
 * once; a process that finishes normally disarms it first. No polling: the pipe's end is the notification.
 */
export interface Reaper {
  disarm(): void;
}

export function armReaper(rig: string, logFile = '/dev/null'): Reaper {
  const script = fileURLToPath(new URL('../cli/reaper.js', import.meta.url));
  const log = openSync(logFile, 'a');
  // A shell waits on the pipe (a Node process would take CPU from the start of the rig); only when the pipe
  // closes without "disarm" does it start the Node reaper, which removes the rig.
  const wait = 'read -r word; [ "$word" = disarm ] || exec "$0" "$1" "$2"';
  const child = spawn('/bin/sh', ['-c', wait, process.execPath, script, rig], { detached: true, stdio: ['pipe', log, log] });
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let armed = true;
  return {
    disarm() {
      if (!armed) return;
      armed = false;
      child.stdin!.end('disarm\n');
    },
  };
}
