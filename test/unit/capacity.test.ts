import { describe, expect, it } from 'vitest';
import { RigFileError } from '../../src/errors.js';
import { rigAddresses } from '../../src/plan/plan.js';
import { parseCidr, parseIp, size } from '../../src/ipv4.js';
import { parseRigFile } from '../../src/rigfile/load.js';

const rigFile = (subnet: string | undefined, nodes: number) =>
  [
    'name: cap',
    ...(subnet ? ['network:', `  subnet: ${subnet}`] : []),
    'nodes:',
    ...Array.from({ length: nodes }, (_, i) => `  n${i}.cap.test:`),
  ].join('\n') + '\n';

const load = (subnet: string | undefined, nodes: number) => parseRigFile(rigFile(subnet, nodes), '/tmp/cap.yaml');
const leasesOf = (subnet: string) => {
  const a = rigAddresses(subnet);
  return parseIp(a.dhcpLast) - parseIp(a.dhcpFirst) + 1;
};

describe('the loader and the address plan agree on what a subnet holds', () => {
  for (const prefix of [24, 25, 26]) {
    const subnet = `10.213.4.0/${prefix}`;
    it(`takes a /${prefix} with as many nodes as its DHCP pool has leases, and no more`, () => {
      const leases = leasesOf(subnet);
      expect(leases).toBeGreaterThan(0);
      // The pool lies inside the subnet, after the sidecar's fixed addresses and before the broadcast address.
      expect(parseIp(rigAddresses(subnet).dhcpLast)).toBe(parseCidr(subnet).base + size(parseCidr(subnet)) - 2);
      expect(load(subnet, leases).nodes).toHaveLength(leases);
      let error: unknown;
      try {
        load(subnet, leases + 1);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RigFileError);
      const [problem] = (error as RigFileError).problems;
      expect(problem).toMatchObject({ line: 3, path: 'network.subnet' });
      expect(problem.message).toBe(`${leases + 1} nodes, but network.subnet ${subnet} offers only ${leases} DHCP leases`);
    });
  }

  for (const prefix of [27, 28]) {
    it(`rejects a /${prefix} at load, as the plan would at run time`, () => {
      const subnet = `10.213.4.0/${prefix}`;
      expect(() => rigAddresses(subnet)).toThrow(/too small/);
      expect(() => load(subnet, 1)).toThrow(/prefix \/\d+ is out of range/);
    });
  }

  it('counts a /24 when the subnet is picked from the pool', () => {
    expect(load(undefined, leasesOf('10.213.4.0/24')).nodes).toHaveLength(239);
    expect(() => load(undefined, 240)).toThrow(/240 nodes, but a \/24 from the pool offers only 239 DHCP leases/);
  });
});
