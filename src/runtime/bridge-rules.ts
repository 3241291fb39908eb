import { ExitCode, RigError } from '../errors.js';
import { CommandError, runCommand } from './command.js';

/**
 * The host's firewall rules for rig's bridges, in Docker's DOCKER-USER chain. With Docker on the host, br_netfilter
 * is on and Docker's FORWARD policy is DROP: frames bridged between two ports of any bridge pass FORWARD, so a rig
 * bridge (Docker's internal network, or an LXD bridge) needs an accept rule of its own. Each is commented
 * rig:<rig>, so `down`, the reaper and gc find and remove a rig's rules alone.
 */

/**
 * Docker drops traffic on an internal network whose source or destination lies outside its subnet, and a
 * DHCP discover goes from 0.0.0.0 to 255.255.255.255. One rule lets traffic that stays on the bridge pass;
 * nothing can leave the bridge still.
 */
export async function allowInsideBridge(bridge: string, rig: string): Promise<void> {
  await iptables(['-I', 'DOCKER-USER', ...bridgeRule(bridge, rig)]);
}

const bridgeRule = (bridge: string, rig: string) => [
  '-i',
  bridge,
  '-o',
  bridge,
  '-m',
  'comment',
  '--comment',
  `rig:${rig}`,
  '-j',
  'ACCEPT',
];

async function iptables(args: string[]): Promise<void> {
  try {
    await runCommand('iptables', ['-w', ...args]);
  } catch (err) {
    if (err instanceof CommandError && err.code === 'ENOENT')
      throw new RigError('iptables is not installed.', 'apt-get install iptables', ExitCode.engineUnavailable);
    throw new RigError(
      `iptables ${args.join(' ')} failed: ${err instanceof CommandError ? err.result.stderr.trim() : err}`,
      'rig needs root to manage its internal networks',
    );
  }
}

/** Whether Docker's DOCKER-USER chain is there (Docker runs, or ran, on this host): without it nothing drops a rig's frames. */
export async function dockerUserChain(): Promise<boolean> {
  const listed = await runCommand('iptables', ['-w', '-S', 'DOCKER-USER'], { allowFailure: true }).catch(() => undefined); // no iptables: no Docker rules
  return listed?.exitCode === 0;
}

/**
 * An LXD rig bridge through Docker's FORWARD policy: frames between its ports (the nodes', the sidecar's) pass; a rig
 * that may reach out also gets its nodes' traffic out and the answers back in (LXD's NAT makes it leave as this host).
 * Nothing on the host's other networks can open a connection into the bridge. Nothing to do without Docker's chain.
 */
export async function allowLxdBridge(bridge: string, rig: string, internal: boolean): Promise<void> {
  if (!(await dockerUserChain())) return;
  await allowInsideBridge(bridge, rig);
  if (internal) return;
  const comment = ['-m', 'comment', '--comment', `rig:${rig}`, '-j', 'ACCEPT'];
  await iptables(['-I', 'DOCKER-USER', '-i', bridge, '!', '-o', bridge, ...comment]);
  await iptables(['-I', 'DOCKER-USER', '-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...comment]);
}

/** Remove the rule that lets traffic stay on one bridge (a network this process made); none there counts as removed. */
export async function removeBridgeRule(bridge: string, rig: string): Promise<void> {
  await runCommand('iptables', ['-w', '-D', 'DOCKER-USER', ...bridgeRule(bridge, rig)]).catch(() => {}); // none on a network that is not internal
}

/** Remove the rig's firewall rules: any DOCKER-USER rule commented rig:<rig>. */
export async function removeBridgeRules(rig: string): Promise<void> {
  let rules: string;
  try {
    rules = (await runCommand('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout;
  } catch {
    return; // no iptables or no chain: nothing of ours can be there
  }
  for (const rule of rules.split('\n')) {
    const args = rule.replaceAll('"', '').split(' '); // iptables -S quotes comments; rig names have no spaces
    if (args[0] === '-A' && args.includes(`rig:${rig}`)) {
      await runCommand('iptables', ['-w', '-D', ...args.slice(1)]).catch(() => {}); // removed meanwhile (by another down)
    }
  }
}
