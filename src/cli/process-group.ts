import { readdirSync, readFileSync } from 'node:fs';

/** How long what is ended has between TERM and KILL (ms). */
export const KILL_AFTER_MS = 2000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Send a signal to a process (pid > 0) or a process group (-pgid); false if there is none left. */
function signal(target: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, name);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * End processes, each a process (pid) or a process group (-pgid): TERM, then KILL to what is left of them after
 * KILL_AFTER_MS. Resolves as soon as none is left (looked at a few times in between), or once KILL is sent.
 */
export async function endProcesses(targets: number[]): Promise<void> {
  let left = targets.filter((t) => signal(t, 'SIGTERM'));
  for (const wait of [20, 80, 200, 500, 1200]) {
    if (!left.length) return;
    await sleep(wait);
    left = left.filter((t) => signal(t, 0));
  }
  for (const t of left) signal(t, 'SIGKILL');
}

/**
 * The processes whose environment holds `name=value` (those started under a command given it, however far down, and
 * wherever they were re-parented to), as /proc shows them now; Linux only, none elsewhere, none that rig may not read.
 */
export function processesWith(name: string, value: string): number[] {
  const mark = Buffer.from(`${name}=${value}\0`);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return []; // no /proc (not Linux): no process can be found by its environment
  }
  return entries.filter(/^\d+$/.test.bind(/^\d+$/)).flatMap((entry) => {
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${entry}/environ`);
    } catch {
      return []; // gone meanwhile, or not ours to read
    }
    const at = environ.indexOf(mark);
    return at === 0 || (at > 0 && environ[at - 1] === 0) ? [Number(entry)] : [];
  });
}
