// Port security on a rig bridge, as libvirt's clean-traffic filter and OVN's port security do it: what enters the
// bridge through a node's veth must come from the node's planned MAC and, for IPv4 and ARP, from its planned
// address. A node keeps NET_ADMIN in its own namespace (firewall modules, sysctl, ip), but a changed MAC, a second
// address, a gratuitous ARP for the sidecar's .3 or a flood of made-up MACs never gets past its own port.
import { RigError } from '../errors.js';
import { CommandError, runCommand } from './command.js';

/** A node's port on the rig bridge: its veth's host end, and the MAC and address rig planned for it. */
export interface GuardedPort {
  hostInterface: string;
  mac: string;
  address: string;
}

/**
 * One nftables table per rig network (bridge family), named by rig and network id: an `up` that loses the race for
 * a rig's name removes its own table, never the winner's. Rules match veth names, which exist before a node is
 * wired and survive the keeper's rewiring of a restarted node.
 */
export const guardTable = (rig: string, networkId: string) => `rig.${rig}.${networkId.slice(0, 12)}`;

/**
 * The nft script that makes (or atomically replaces) a network's table. Each port jumps to its own chain: frames
 * from another MAC are dropped; ARP must speak for the port's MAC and address (0.0.0.0: a DHCP client's probe);
 * IPv4 must come from the port's address, or be a DHCP request from 0.0.0.0; everything else (IPv6, VLAN tags,
 * other ethertypes) is dropped: rig's network is IPv4 only. Traffic from the sidecar's port and the host is left
 * alone. `input` guards what a node sends the host (the bridge's own address), `forward` what it sends its peers.
 */
export function portGuardScript(table: string, ports: GuardedPort[]): string {
  const chain = (i: number) => `p${i}`;
  const verdicts = ports.map((p, i) => `"${p.hostInterface}" : jump ${chain(i)}`).join(', ');
  return [
    `table bridge ${table}`,
    `delete table bridge ${table}`,
    `table bridge ${table} {`,
    `  chain ports {`,
    ...(ports.length ? [`    iifname vmap { ${verdicts} }`] : []),
    `  }`,
    `  chain forward { type filter hook forward priority filter; policy accept; jump ports; }`,
    `  chain input { type filter hook input priority filter; policy accept; jump ports; }`,
    ...ports.flatMap((p, i) => [
      `  chain ${chain(i)} {`,
      `    ether saddr != ${p.mac} drop`,
      `    arp saddr ether != ${p.mac} drop`,
      `    arp saddr ip != { ${p.address}, 0.0.0.0 } drop`,
      `    ether type arp accept`,
      `    ip saddr ${p.address} accept`,
      `    ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept`,
      `    drop`,
      `  }`,
    ]),
    `}`,
    '',
  ].join('\n');
}

/** Put a rig network's port guard in place, or replace it whole (a reconcile that adds or removes nodes). */
export async function guardPorts(rig: string, networkId: string, ports: GuardedPort[]): Promise<void> {
  try {
    await runCommand('nft', ['-f', '-'], { input: portGuardScript(guardTable(rig, networkId), ports) });
  } catch (err) {
    if (err instanceof CommandError && err.code === 'ENOENT') {
      throw new RigError('nft (nftables) is not installed: rig guards each node port of a rig bridge with it.', 'apt-get install nftables');
    }
    throw new RigError(
      `Port security for rig ${rig} could not be set: ${err instanceof CommandError ? err.result.stderr.trim() : String(err)}`,
      'rig needs root, and a kernel with nf_tables for bridges (rig doctor)',
      undefined,
      { cause: err },
    );
  }
}

/** Remove the port guard of one network (the one an `up` made), and its drills' table (partitions, loss), if there. */
export async function removePortGuard(rig: string, networkId: string): Promise<void> {
  const table = guardTable(rig, networkId);
  for (const t of [table, `${table}.drills`]) await runCommand('nft', ['delete', 'table', 'bridge', t], { allowFailure: true }); // gone already, or never made
}

/**
 * Remove every port guard of a rig (down, the reaper, gc), and the tables of its drills (rig.<rig>.<id>.drills): the
 * tables named after it, whatever network they were for.
 */
export async function removePortGuards(rig: string): Promise<void> {
  const listed = await runCommand('nft', ['list', 'tables', 'bridge'], { allowFailure: true });
  const ours = new RegExp(`^table bridge (rig\\.${rig.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{12}(?:\\.drills)?)$`);
  const tables = listed.stdout.split('\n').flatMap((line) => ours.exec(line.trim())?.slice(1) ?? []);
  await Promise.all(tables.map((t) => runCommand('nft', ['delete', 'table', 'bridge', t], { allowFailure: true })));
}
