import { existsSync } from 'node:fs';
import { RigError } from '../errors.js';
import { CommandError, runCommand } from './command.js';

const peerOf = (hostInterface: string) => `rp${hostInterface.slice(2)}`;

async function ip(args: string[], input?: string): Promise<void> {
  try {
    await runCommand('ip', args, { input });
  } catch (err) {
    if (err instanceof CommandError && err.code === 'ENOENT') throw new RigError('The ip command is missing.', 'apt-get install iproute2');
    throw new RigError(
      `ip ${args.join(' ')} failed: ${err instanceof CommandError ? err.result.stderr.trim() : err}`,
      'rig needs root (CAP_NET_ADMIN) to wire nodes to the rig bridge',
    );
  }
}

/**
 * Make a node's veth pair with its host end already on the rig bridge (done while the node's container starts).
 * A rig of the same name that was just removed may leave its veth for a moment (the kernel tears a dead node's
 * namespace down in the background); the name is this node's, so the leftover is ours to delete.
 */
export async function makeVeth(bridge: string, hostInterface: string, mac: string): Promise<void> {
  const peer = peerOf(hostInterface);
  await Promise.all([hostInterface, peer].map(removeVeth));
  const batch = [
    `link add ${hostInterface} type veth peer name ${peer}`,
    `link set ${peer} address ${mac}`,
    `link set ${hostInterface} master ${bridge} up`,
  ];
  await ip(['-batch', '-'], batch.join('\n')).catch(async (err) => {
    await removeVeth(hostInterface);
    throw err;
  });
}

/** Move the veth's other end into the node's network namespace as eth0: the node's agent takes it from there. */
export async function moveIntoNode(pid: number, hostInterface: string): Promise<void> {
  await ip(['link', 'set', peerOf(hostInterface), 'netns', String(pid), 'name', 'eth0']);
}

/** Delete a veth pair by its host end, if it is there. */
export async function removeVeth(hostInterface: string): Promise<void> {
  if (existsSync(`/sys/class/net/${hostInterface}`)) await runCommand('ip', ['link', 'del', hostInterface]).catch(() => {});
}
