import { describe, expect, it } from 'vitest';
import { dhcpTries, etcdCallSeconds } from '../../src/engine/agent-env.js';

describe("a node's etcd call deadline and DHCP tries", () => {
  it("is rig-fact's 10 s for a rig of a few nodes, and grows with the rig (20 s at 200 nodes)", () => {
    expect([1, 12, 19, 20, 100, 200].map(etcdCallSeconds)).toEqual([10, 10, 10, 11, 15, 20]);
  });

  it('and its DHCP tries: 10 for a few nodes, 30 at 200', () => {
    expect([1, 12, 200].map(dhcpTries)).toEqual([10, 11, 30]);
  });
});
