import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { formatCidr, overlaps, parseCidr, pickSubnet } from '../../ipv4.js';
import { rigAddresses } from '../../plan/plan.js';
import { isConflict, isNotFound, isPoolOverlap } from './connect.js';
import { CommandError, runCommand } from '../command.js';
import type { NetworkRequest, RigNetwork } from '../runtime.js';

/** Subnets already in use: every Docker network's and every route of the host. */
async function takenSubnets(docker: Docker): Promise<string[]> {
  const networks = await docker.listNetworks();
  const fromDocker = networks.flatMap((n) =>
    (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => !!s && !s.includes(':')),
  );
  return [...fromDocker, ...hostRoutes().map((r) => r.subnet)];
}

function hostRoutes(): Array<{ subnet: string; device: string }> {
  const lines = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
  const le = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0);
  return lines
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1] !== '00000000') // the default route covers everything; it is no reason to skip a subnet
    .map((f) => {
      const mask = le(f[7]);
      return { subnet: formatCidr({ base: le(f[1]), prefix: 32 - Math.log2(2 ** 32 - mask) }), device: f[0] };
    });
}

/**
 * A subnet the rig file names must be as free as one rig picks: a host route over it (a VPN, another bridge) would
 * take the host's traffic to the rig's dnsmasq and etcd elsewhere, and every wait on them would run out.
 */
export function checkSubnetFree(subnet: string): void {
  const route = hostRoutes().find((r) => overlaps(parseCidr(r.subnet), parseCidr(subnet)));
  if (route) {
    throw new RigError(
      `The subnet ${subnet} overlaps the host route ${route.subnet} (dev ${route.device}): the host could not reach the rig.`,
      'remove network.subnet from the rig file to get a free one, or pick one no route covers (ip route)',
      ExitCode.badInput,
    );
  }
}

/** Create the rig's bridge network on a free subnet; another rig racing for the same subnet makes us try the next. */
export async function createRigNetwork(docker: Docker, req: NetworkRequest): Promise<{ network: RigNetwork; firewall: Promise<void> }> {
  const refused: string[] = []; // Docker may still hold a subnet no network lists (one just removed, one being made)
  for (let attempt = 0; attempt < 8; attempt++) {
    const subnet = req.subnet ?? pickSubnet(req.pool, [...(await takenSubnets(docker)), ...refused]);
    if (!subnet) {
      throw new RigError(
        `No free /24 left in the address pool ${req.pool}.`,
        'remove old rigs (rig down --all) or set network.pool in the rig file',
        ExitCode.badInput,
      );
    }
    const addresses = rigAddresses(subnet);
    try {
      const created = await docker.createNetwork({
        Name: req.name,
        Driver: 'bridge',
        Internal: req.internal,
        CheckDuplicate: true,
        Labels: req.labels,
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet, IPRange: addresses.dockerRange, Gateway: addresses.gateway }] },
      });
      const network: RigNetwork = {
        id: created.id,
        name: req.name,
        bridge: `br-${created.id.slice(0, 12)}`,
        internal: req.internal,
        addresses,
        labels: req.labels,
      };
      const firewall = req.internal ? allowInsideBridge(network.bridge, req.labels[Label.rig]) : Promise.resolve();
      firewall.catch(() => {}); // the caller awaits it
      return { network, firewall };
    } catch (err) {
      if (isConflict(err)) {
        throw new RigError(
          `A rig named ${req.labels[Label.rig]} is already up (network ${req.name} exists).`,
          `bring it down first (rig down --name ${req.labels[Label.rig]}) or pick another name with --name`,
          ExitCode.badInput,
        );
      }
      if (!req.subnet && isPoolOverlap(err)) {
        refused.push(subnet);
        continue;
      }
      if (req.subnet && isPoolOverlap(err)) {
        throw new RigError(
          `The subnet ${req.subnet} overlaps a network that already exists.`,
          'remove network.subnet from the rig file to get a free one, or pick another',
          ExitCode.badInput,
        );
      }
      throw err;
    }
  }
  throw new RigError('Could not find a free subnet after 8 tries.', 'try again, or set network.subnet in the rig file');
}

/**
 * Docker drops traffic on an internal network whose source or destination lies outside its subnet, and a
 * DHCP discover goes from 0.0.0.0 to 255.255.255.255. One rule lets traffic that stays on the bridge pass;
 * nothing can leave the bridge still.
 */
async function allowInsideBridge(bridge: string, rig: string): Promise<void> {
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

/** Remove a network this process made, and its firewall rule, and nothing of another rig that has the same name. */
export async function removeOwnNetwork(docker: Docker, id: string, rig: string): Promise<void> {
  await removeNetwork(docker, id);
  await runCommand('iptables', ['-w', '-D', 'DOCKER-USER', ...bridgeRule(`br-${id.slice(0, 12)}`, rig)]).catch(() => {}); // none on a network that is not internal
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

export async function findRigNetworks(docker: Docker, rig?: string): Promise<RigNetwork[]> {
  const filter = rig ? `${Label.rig}=${rig}` : Label.rig;
  const found = await docker.listNetworks({ filters: { label: [filter] } });
  return found.map((n) => {
    const subnet = n.IPAM?.Config?.[0]?.Subnet ?? '';
    return {
      id: n.Id,
      name: n.Name,
      bridge: `br-${n.Id.slice(0, 12)}`,
      internal: !!n.Internal,
      addresses: rigAddresses(subnet),
      labels: n.Labels ?? {},
      created: n.Created,
    };
  });
}

/**
 * Remove a rig network. rig attaches nothing through Docker (nodes and the sidecar are wired by veths), so a
 * container Docker lists on it is someone else's: it is disconnected, never removed, and its name returned.
 */
export async function removeNetwork(docker: Docker, id: string): Promise<string[]> {
  const network = docker.getNetwork(id);
  let foreign: string[] = [];
  try {
    const { Containers } = (await network.inspect()) as { Containers?: Record<string, { Name: string }> };
    foreign = Object.entries(Containers ?? {}).map(([container, { Name }]) => Name || container);
    await Promise.all(Object.keys(Containers ?? {}).map((container) => network.disconnect({ Container: container, Force: true })));
    await network.remove();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return foreign;
}
