/** Small IPv4 arithmetic on unsigned 32-bit numbers. */
export function parseIp(ip: string): number {
  const parts = ip.split('.').map(Number);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  base: number;
  prefix: number;
}

export function parseCidr(cidr: string): Cidr {
  const [ip, prefix] = cidr.split('/');
  return { base: parseIp(ip), prefix: Number(prefix) };
}

export const formatCidr = (c: Cidr) => `${formatIp(c.base)}/${c.prefix}`;
export const size = (c: Cidr) => 2 ** (32 - c.prefix);

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/** The first /24 (or `prefix`) inside `pool` that overlaps none of `taken`. */
export function pickSubnet(pool: string, taken: string[], prefix = 24): string | undefined {
  const p = parseCidr(pool);
  const used = taken.map(parseCidr);
  const step = 2 ** (32 - prefix);
  for (let base = p.base; base + step <= p.base + size(p); base += step) {
    const candidate = { base, prefix };
    if (!used.some((u) => overlaps(u, candidate))) return formatCidr(candidate);
  }
  return undefined;
}

/**
 * A rig subnet's layout: .1 the bridge, .2 and .3 the sidecar, the first 16 addresses Docker's own range, then the
 * DHCP pool up to the last address before broadcast. The loader and the plan both go by it.
 */
export const DHCP_POOL_OFFSET = 16;
export const SMALLEST_RIG_SUBNET = 26; // the longest prefix: a /26 leaves 47 leases
export const AUTO_SUBNET_PREFIX = 24; // subnets picked from the pool
export const dhcpLeases = (prefix: number) => 2 ** (32 - prefix) - DHCP_POOL_OFFSET - 1;
