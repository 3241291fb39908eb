import { describe, expect, it } from 'vitest';
import { ExitCode, RigError } from '../../src/errors.js';
import { Label } from '../../src/labels.js';
import { planRig } from '../../src/plan/plan.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import type { NodeBackend } from '../../src/runtime/backend.js';
import { EngineAbsent, type RigNetwork, type Sidecars } from '../../src/runtime/runtime.js';
import { Segments, type SegmentRoles } from '../../src/runtime/segments.js';

const plan = (nodes: string) => planRig(parseRigFile(`name: seg\ndomain: s.test\nconfigs: []\nnodes:\n${nodes}`, '/tmp/seg.yaml'));

describe("a rig's segment (plan.ts: segmentOf)", () => {
  it("is LXD's when every node is on LXD, its sidecar then an LXD instance's name (no dot)", () => {
    const p = plan('  a.s.test: { backend: lxd }\n  b.s.test: { backend: lxd }\n');
    expect(p.segment).toBe('lxd');
    expect(p.sidecar.container).not.toContain('.');
    expect(p.network).toMatch(/^rl[0-9a-f]{10}$/); // 12 characters: its VXLAN tunnel's interface is <network>-v, 15 at most
  });

  it("is Docker's as soon as one node is not on LXD", () => {
    const p = plan('  a.s.test: { backend: lxd }\n  b.s.test: {}\n');
    expect(p.segment).toBe('docker');
    expect(p.sidecar.container).toBe('rig-seg.sidecar');
    expect(p.network).toBe('rig-seg');
  });
});

/** One segment's roles in memory: its rigs' networks, and every call it was asked (what the tests look at). */
function roles(name: string, networks: Record<string, RigNetwork[]>, calls: string[], fail?: Error): SegmentRoles {
  const asked = (what: string) => {
    calls.push(`${name}.${what}`);
    if (fail) throw fail;
  };
  return {
    rigs: {
      networks: async (rig) => (asked('networks'), rig ? (networks[rig] ?? []) : Object.values(networks).flat()),
      containers: async () => (asked('containers'), []),
      removeContainer: async () => asked('removeContainer'),
      containersNamed: async (names) => (asked(`containersNamed ${names.join(',')}`), []),
      watchStarts: async () => (asked('watchStarts'), () => {}),
      engineStopped: () => undefined,
    },
    network: {
      createNetwork: async (request) => {
        asked('createNetwork');
        const network = { id: `${name}-net`, name: request.name, bridge: request.name, internal: true, addresses: {}, labels: {} };
        return { network: network as RigNetwork, firewall: Promise.resolve() };
      },
      removeNetwork: async () => (asked('removeNetwork'), []),
      removeOwnNetwork: async () => asked('removeOwnNetwork'),
      checkSubnetFree: () => undefined,
      guardPorts: async () => asked('guardPorts'),
    },
    sidecars: new Proxy({} as Sidecars, { get: (_, key) => async () => asked(`sidecars.${String(key)}`) }),
    containerState: async () => (asked('containerState'), { running: true, pid: 1, stoppedBefore: false }),
  };
}

const net = (rig: string, segment?: 'lxd') => ({ labels: { [Label.rig]: rig }, segment }) as unknown as RigNetwork;
const absent = new EngineAbsent('No Docker engine answers at unix:///nonexistent (ENOENT).', 'start it', ExitCode.engineUnavailable);

function segments(opts: { dockerFails?: Error; lxdHere?: boolean; dockerSocket?: boolean; lxdRigs?: Record<string, RigNetwork[]> } = {}) {
  const calls: string[] = [];
  const docker = roles('docker', { old: [net('old')] }, calls, opts.dockerFails);
  const lxd = roles('lxd', opts.lxdRigs ?? { lab: [net('lab', 'lxd')] }, calls);
  const s = new Segments({
    docker,
    lxd: () => (opts.lxdHere === false ? undefined : lxd),
    lxdNetwork: async (id) => id === 'lxd-net',
    lxdBridge: (bridge) => bridge.startsWith('rl'),
    dockerMayBeHere: () => opts.dockerSocket ?? false,
  });
  return { s, calls, registry: s.registry(), sidecars: s.sidecars(), networks: s.networks() };
}

describe('the runtime over both segments (segments.ts)', () => {
  it('asks LXD alone about a rig on LXD, and Docker nothing', async () => {
    const { registry, sidecars, networks, calls } = segments();
    expect(await registry.networks('lab')).toHaveLength(1);
    await registry.containers('lab');
    await registry.watchStarts(
      'lab',
      'x',
      () => {},
      () => {},
    );
    await sidecars.letNodesIn('rig-lab-sidecar-12345678', 2);
    await networks.removeNetwork('lxd-net');
    await registry.containersNamed(['rig-lab-sidecar-12345678']);
    expect(calls.filter((c) => c.startsWith('docker.'))).toEqual([]);
  });

  it("asks Docker about a Docker container by id or by rig's dotted name, and LXD about an instance, while an LXD daemon is here", async () => {
    const { s, calls } = segments();
    const wiring = s.wiring({} as never);
    for (const id of ['a'.repeat(64), 'rig-old.mill', 'rig-old.sidecar', 'rig-lab-mill-1234abcd']) await wiring.containerState(id);
    expect(calls).toEqual(['docker.containerState', 'docker.containerState', 'docker.containerState', 'lxd.containerState']);
  });

  it('asks Docker about a rig LXD does not have', async () => {
    const { registry, calls } = segments();
    expect(await registry.networks('old')).toHaveLength(1);
    expect(calls).toContain('docker.networks');
  });

  it("makes a rig placed on LXD there without asking Docker, when Docker's socket is not here", async () => {
    const { s, registry, networks, calls } = segments({ lxdRigs: {} });
    registry.place!('new', 'lxd');
    expect(await registry.networks('new')).toEqual([]);
    await networks.createNetwork({ name: 'rlnew', pool: '10.0.0.0/16', internal: true, labels: {}, segment: 'lxd' });
    expect(await s.of('new')).toBe('lxd');
    expect(calls.filter((c) => c.startsWith('docker.'))).toEqual([]);
  });

  it('finds a rig of that name up on Docker before making it on LXD, where Docker may answer', async () => {
    const { s, registry } = segments({ dockerSocket: true });
    registry.place!('old', 'lxd');
    expect(await s.of('old')).toBe('docker');
  });

  it('lists every rig of both; a Docker that is not there has none where an LXD daemon is', async () => {
    expect((await segments().registry.networks()).map((n) => n.labels[Label.rig]).sort()).toEqual(['lab', 'old']);
    expect((await segments({ dockerFails: absent }).registry.networks()).map((n) => n.labels[Label.rig])).toEqual(['lab']);
  });

  it('says so when Docker is not there and no LXD daemon is, or when Docker fails otherwise', async () => {
    await expect(segments({ dockerFails: absent, lxdHere: false }).registry.networks()).rejects.toBe(absent);
    const hung = new RigError('The Docker engine did not answer GET /networks within 60 s', 'restart it', ExitCode.engineUnavailable);
    await expect(segments({ dockerFails: hung }).registry.networks()).rejects.toBe(hung);
  });

  it("keeps a Docker-segment backend's hands off a rig on LXD", async () => {
    const { s, calls } = segments();
    const backend = {
      kind: 'docker',
      list: async () => (calls.push('backend.list'), []),
      removeAll: async () => void calls.push('backend.removeAll'),
    } as unknown as NodeBackend;
    const scoped = s.dockerBackend(backend);
    expect(await scoped.list('lab')).toEqual([]);
    await scoped.removeAll('lab');
    await scoped.list('old');
    expect(calls.filter((c) => c.startsWith('backend.'))).toEqual(['backend.list']);
  });

  it('leaves a node on an LXD bridge to LXD, and wires one on a Docker bridge', async () => {
    const { s } = segments();
    const wired: string[] = [];
    const wiring = s.wiring({
      containerState: async () => ({ running: true, pid: 1, stoppedBefore: true }),
      wire: async (bridge) => void wired.push(bridge),
      removeHostInterfaces: async () => {},
      removeWiring: async () => {},
    });
    await wiring.wire('rl0123456789ab', 'rv1', '02:00:00:00:00:01', 1);
    await wiring.wire('br-0123456789ab', 'rv2', '02:00:00:00:00:02', 2);
    expect(wired).toEqual(['br-0123456789ab']);
  });
});
