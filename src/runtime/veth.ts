import { existsSync } from 'node:fs';
import { RigError } from '../errors.js';
import { CommandError, runCommand } from './command.js';
import { pacedWiring, type PaceOptions } from './pacing.js';
import { nodeDigest, nodeMac, SIDECAR_NODE } from '../plan/plan.js';

/**
 * A node's veth on this host: its host end's name (15 characters at most) and the MAC of its eth0, derived from the
 * rig and node names alone (so `down` can find the veth too). For backends whose nodes are wired on this host.
 */
export function nodeWiring(rig: string, node: string): { hostInterface: string; mac: string } {
  return { hostInterface: `rv${nodeDigest(rig, node).slice(0, 12)}`, mac: nodeMac(rig, node) };
}

/** The sidecar's veth and MAC: wired like a node's. */
export const sidecarWiring = (rig: string) => nodeWiring(rig, SIDECAR_NODE);

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
 * namespace down in the background); the name is this node's, so the leftover is ours to delete. Paced.
 */
export function makeVeth(bridge: string, hostInterface: string, mac: string, pace?: PaceOptions): Promise<void> {
  return pacedWiring(async () => {
    const peer = peerOf(hostInterface);
    await Promise.all([hostInterface, peer].map(deleteLink));
    const batch = [
      `link add ${hostInterface} type veth peer name ${peer}`,
      `link set ${peer} address ${mac}`,
      `link set ${hostInterface} master ${bridge} up`,
    ];
    await ip(['-batch', '-'], batch.join('\n')).catch(async (err) => {
      await deleteLink(hostInterface);
      throw err;
    });
  }, pace);
}

/** Move the veth's other end into the node's network namespace as eth0: the node's agent takes it from there. Paced. */
export function moveIntoNode(pid: number, hostInterface: string, pace?: PaceOptions): Promise<void> {
  return pacedWiring(() => ip(['link', 'set', peerOf(hostInterface), 'netns', String(pid), 'name', 'eth0']), pace);
}

/** Delete a veth pair by its host end, if it is there. Paced (only when it is there). */
export async function removeVeth(hostInterface: string, pace?: PaceOptions): Promise<void> {
  if (linkExists(hostInterface)) await pacedWiring(() => deleteLink(hostInterface), pace);
}

const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);

async function deleteLink(name: string): Promise<void> {
  // Removing the link's namespace (a container going) may take it first: gone either way.
  if (linkExists(name)) await runCommand('ip', ['link', 'del', name]).catch(() => {});
}
