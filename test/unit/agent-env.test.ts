import { describe, expect, it } from 'vitest';
import { aliveTtlSeconds, dhcpTries, etcdCallSeconds } from '../../src/engine/agent-env.js';
import { sidecarCpuShares } from '../../src/runtime/docker/sidecar.js';

describe("a node's etcd call deadline and DHCP tries", () => {
  it("is rig-fact's 10 s for a rig of a few nodes, and grows with the rig (20 s at 200 nodes)", () => {
    expect([1, 12, 19, 20, 100, 200].map(etcdCallSeconds)).toEqual([10, 10, 10, 11, 15, 20]);
  });

  it('and its DHCP tries: 10 for a few nodes, 30 at 200', () => {
    expect([1, 12, 200].map(dhcpTries)).toEqual([10, 11, 30]);
  });

  it('and its alive TTL: 9 s up to 30 nodes, then about ten keepalives a second in all, at most 60 s', () => {
    expect([1, 30, 31, 100, 200, 239, 1000].map(aliveTtlSeconds)).toEqual([9, 9, 10, 30, 60, 60, 60]);
  });
});

describe("the sidecar's CPU weight", () => {
  it("is as much as all of the rig's nodes (1024 each), up to Docker's largest", () => {
    expect([1, 3, 200, 256, 1000].map(sidecarCpuShares)).toEqual([1024, 3072, 204_800, 262_144, 262_144]);
  });
});
