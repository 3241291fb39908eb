import { readFileSync } from 'node:fs';
import { ExitCode, RigError } from '../errors.js';
import { formatCidr, overlaps, parseCidr } from '../ipv4.js';

/** The host's routes (the default route left out): a subnet one of them covers is not free for a rig. */
export function hostRoutes(): Array<{ subnet: string; device: string }> {
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
