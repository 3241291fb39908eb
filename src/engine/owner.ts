import { hostname } from 'node:os';
import { Label } from '../labels.js';

/** Whether a process of this host runs (one of another user's counts). */
export const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Whether the process that made a rig's network (its owner label, host:pid) still runs on this host: an `up` or
 * `run` still at work. Another host's owner counts as alive (rig cannot tell).
 */
export function ownerAlive(networkLabels: Record<string, string>): boolean {
  const [host, pid] = (networkLabels[Label.owner] ?? '').split(':');
  return host !== hostname() || processAlive(Number(pid));
}
