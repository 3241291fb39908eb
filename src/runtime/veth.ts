import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { RigError } from '../errors.js';

/**
 * Give the process `pid` an eth0 on `bridge`: a veth pair whose host end joins the bridge first, and whose
 * other end is moved into the node's network namespace as eth0 last, so the node's DHCP client never
 * sends into a port that is not forwarding yet.
 */
export async function attachToBridge(pid: number, bridge: string, hostInterface: string, mac: string): Promise<void> {
  const peer = `rp${hostInterface.slice(2)}`;
  // A rig of the same name that was just removed may leave its veth for a moment (the kernel tears a dead
  // node's namespace down in the background). The name is this node's, so the leftover is ours to delete.
  for (const name of [hostInterface, peer]) {
    if (existsSync(`/sys/class/net/${name}`)) await execa('ip', ['link', 'del', name]).catch(() => {});
  }
  const batch = [
    `link add ${hostInterface} type veth peer name ${peer}`,
    `link set ${peer} address ${mac}`,
    `link set ${hostInterface} master ${bridge} up`,
    `link set ${peer} netns ${pid} name eth0`,
  ].join('\n');
  try {
    await execa('ip', ['-batch', '-'], { input: batch });
  } catch (err) {
    await execa('ip', ['link', 'del', hostInterface]).catch(() => {});
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new RigError('The ip command is missing.', 'apt-get install iproute2');
    throw new RigError(`Could not attach a node to the rig bridge ${bridge}: ${e.stderr ?? err}`, 'rig needs root (CAP_NET_ADMIN) to wire nodes to the rig bridge');
  }
}
