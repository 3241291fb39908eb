import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { ownScript } from '../package-root.js';

/**
 * A watchdog for a rig while `up` or `run` works on it: a detached process that holds a pipe from this one.
 * If this process dies in any way (SIGKILL included), the pipe closes and the reaper ends the command `run` was
 * running and removes what this process made, at once; a process that finishes normally disarms it first. No
 * polling: the pipe's end is the notification. What the reaper may remove it learns as it is made: the network
 * this process created, and the whole rig (by its label) only once this process owns the rig's name.
 */
export interface Reaper {
  /** This process made the network with this id (and its firewall rule); it is this process's to remove. */
  network(id: string): void;
  /** This process owns the rig name: everything carrying the rig's label is its to remove. */
  claimed(): void;
  /** The command `run` runs, as a process group of its own (or a process); undefined once it ended. */
  command(pid: number | undefined): void;
  disarm(): void;
}

// A shell waits on the pipe (a Node process would take CPU from the start of the rig). When the pipe closes
// without "disarm", it ends the command (TERM, then KILL), then starts the Node reaper for what was made.
const WAIT = `
claimed= net= group=
while read -r word arg; do
  case $word in
    disarm) exit 0 ;;
    claimed) claimed=1 ;;
    network) net=$arg ;;
    command) group=$arg ;;
  esac
done
if [ -n "$group" ]; then
  kill -TERM -$group 2>/dev/null || kill -TERM $group 2>/dev/null
  (sleep 2; kill -KILL -$group 2>/dev/null || kill -KILL $group 2>/dev/null) &
fi
[ -z "$claimed$net" ] || exec "$0" "$1" "$2" "$claimed" "$net"
`;

export function armReaper(rig: string, logFile = '/dev/null'): Reaper {
  const script = ownScript('reaper');
  const log = openSync(logFile, 'a');
  const child = spawn('/bin/sh', ['-c', WAIT, process.execPath, script, rig], { detached: true, stdio: ['pipe', log, log] });
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let armed = true;
  const tell = (line: string) => armed && child.stdin!.write(`${line}\n`);
  return {
    network: (id) => tell(`network ${id}`),
    claimed: () => tell('claimed'),
    command: (pid) => tell(`command ${pid ?? ''}`),
    disarm() {
      if (!armed) return;
      armed = false;
      child.stdin!.end('disarm\n');
    },
  };
}
