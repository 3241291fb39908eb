import { Checker } from './checker.js';
import { type PathSeg } from './positions.js';
import { DHCP_POOL_OFFSET, AUTO_SUBNET_PREFIX, dhcpLeases } from '../ipv4.js';
import { DEFAULT_POOL, PREFIXES } from './schema-parts.js';
import { type RawNetwork } from './schema.js';
import type { NetworkSpec } from './types.js';

/** The rig file's network: its subnet or pool, whether it is internal, and whether its nodes fit in it. */

export function checkNetwork(c: Checker, net: RawNetwork | undefined): NetworkSpec {
  const network: NetworkSpec = { pool: DEFAULT_POOL, internal: net?.internal ?? false, forward: [] };
  if (!net) return network;
  network.subnet = checkPrefix(c, 'subnet', net.subnet);
  network.pool = checkPrefix(c, 'pool', net.pool) ?? DEFAULT_POOL;
  network.forward = (net.forward ?? []).filter((f) => f !== undefined);
  return network;
}

/** Every node needs a DHCP lease: more nodes than the subnet has leases is found here, before anything is made. */
export function checkCapacity(c: Checker, nodes: number, network: NetworkSpec, nodesPath: PathSeg[]): void {
  const prefix = network.subnet ? Number(network.subnet.split('/')[1]) : AUTO_SUBNET_PREFIX;
  const leases = dhcpLeases(prefix);
  if (nodes <= leases) return;
  const where = network.subnet ? `network.subnet ${network.subnet}` : `a /${AUTO_SUBNET_PREFIX} from the pool`;
  const fits = 32 - Math.ceil(Math.log2(nodes + DHCP_POOL_OFFSET + 1)); // the longest prefix with enough leases
  const hint = `set network.subnet to a /${fits} or larger (e.g. subnet: 10.214.0.0/${fits}), or split the rig`;
  const [at, p] = network.subnet ? (['value', ['network', 'subnet']] as const) : ([nodesPath.length ? 'key' : 'start', nodesPath] as const);
  c.report([...p], `${nodes} nodes, but ${where} offers only ${leases} DHCP leases`, hint, at);
}

/** A network's prefix length is in range, and its host bits are zero (the schema pass checked the notation). */
function checkPrefix(c: Checker, key: keyof typeof PREFIXES, cidr: string | undefined): string | undefined {
  if (cidr === undefined) return undefined;
  const p = ['network', key];
  const [minPrefix, maxPrefix] = PREFIXES[key];
  const example = key === 'pool' ? DEFAULT_POOL : '10.213.7.0/24';
  const [address, prefix] = [
    cidr
      .split('/')[0]
      .split('.')
      .reduce((a, o) => a * 256 + Number(o), 0),
    Number(cidr.split('/')[1]),
  ];
  if (prefix < minPrefix || prefix > maxPrefix) {
    const why =
      key === 'subnet' && prefix > maxPrefix ? ` (a rig subnet needs ${DHCP_POOL_OFFSET} addresses of its own before its DHCP pool)` : '';
    c.report(p, `prefix /${prefix} is out of range${why}`, `use a prefix from /${minPrefix} to /${maxPrefix}, e.g. ${example}`, 'value');
    return undefined;
  }
  const network = address - (address % 2 ** (32 - prefix));
  if (network !== address) {
    const dotted = [24, 16, 8, 0].map((s) => Math.floor(network / 2 ** s) % 256).join('.');
    c.report(p, `"${cidr}" is not a network address (host bits are set)`, `use ${dotted}/${prefix}`, 'value');
    return undefined;
  }
  return cidr;
}
