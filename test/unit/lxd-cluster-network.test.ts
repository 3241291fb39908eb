import { describe, expect, it } from 'vitest';
import { LxdClient } from '../../src/runtime/lxd/api.js';
import { tunnelIds, vxlanIdFor } from '../../src/runtime/lxd/networks.js';
import { createLxdNetwork } from '../../src/runtime/lxd/rig-networks.js';
import { Label } from '../../src/labels.js';
import type { NetworkRequest } from '../../src/runtime/runtime.js';
import { lxdOk, standInLxd } from './stand-in-lxd.js';

// A rig's bridge on an LXD cluster (rig-networks.ts, networks.ts): pending on each online member, then made with
// its VXLAN tunnel under an id no other network uses; against a stand-in LXD on a Unix socket (the real cluster is
// in test/e2e/lxd-across.e2e.test.ts).

describe("a rig's VXLAN id", () => {
  it('is the same for a rig every time, within 24 bits, and the next free one on a clash', () => {
    const id = vxlanIdFor('village', new Set());
    expect(id).toBe(vxlanIdFor('village', new Set()));
    expect(id).toBeGreaterThan(0);
    expect(id).toBeLessThanOrEqual(0xffffff);
    expect(vxlanIdFor('village', new Set([id]))).toBe((id % 0xffffff) + 1);
    expect(vxlanIdFor('village', new Set([id, (id % 0xffffff) + 1]))).toBe(((id + 1) % 0xffffff) + 1);
  });
});

describe("a rig's bridge on a cluster", () => {
  it('is defined on every online member, then made with a tunnel whose id no network has', async () => {
    const bodies: Array<{ url: string; body: Record<string, unknown> }> = [];
    const taken = vxlanIdFor('acr', new Set());
    const lxd = await standInLxd((req, res) => {
      if (req.method === 'GET' && req.url?.startsWith('/1.0/networks?recursion=1'))
        return lxdOk(res, [{ name: 'other', type: 'bridge', managed: true, status: 'Created', config: { 'tunnel.x.id': String(taken) } }]);
      let data = '';
      req.on('data', (chunk: Buffer) => (data += chunk.toString()));
      req.on('end', () => {
        bodies.push({ url: req.url ?? '', body: JSON.parse(data || '{}') as Record<string, unknown> });
        lxdOk(res, {});
      });
    });
    expect(await tunnelIds(LxdClient.connect({ socket: lxd.socket }))).toEqual(new Set([taken]));
    const client = LxdClient.connect({ socket: lxd.socket });
    const request: NetworkRequest = {
      name: 'x',
      labels: { [Label.rig]: 'acr' },
      internal: true,
      pool: '10.213.0.0/16',
      subnet: '10.213.5.0/24',
    };
    const made = await createLxdNetwork(client, request, { local: false, members: async () => ['m1', 'm2', 'm3'] });
    await made.firewall;
    expect(bodies.map((b) => b.url)).toEqual([
      '/1.0/networks?target=m1',
      '/1.0/networks?target=m2',
      '/1.0/networks?target=m3',
      '/1.0/networks',
    ]);
    const config = bodies[3].body.config as Record<string, string>;
    expect(config).toMatchObject({ 'ipv4.address': 'none', 'ipv4.dhcp': 'false', 'tunnel.v.protocol': 'vxlan', 'user.rig.rig': 'acr' });
    expect(config['tunnel.v.id']).toBe(String((taken % 0xffffff) + 1)); // the rig's own id was another network's
    expect(made.network.bridge).toBe(bodies[3].body.name);
    expect(made.network.bridge.length).toBeLessThanOrEqual(12); // its tunnel's interface: <bridge>-v, 15 at most
  });
});
