import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/context.js';
import { destroyRig } from '../../src/engine/down.js';
import { hostAccess } from '../../src/engine/status.js';
import type { Facts } from '../../src/facts/store.js';
import { Label } from '../../src/labels.js';
import { planRig, type Plan } from '../../src/plan/plan.js';
import { assignAddresses, etcdUrl, nodesConf } from '../../src/plan/sidecar.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { NameTaken, type RigNetwork } from '../../src/runtime/runtime.js';

/** What a runtime under contract gives: an engine built on it, and how to remove what the suite could not. */
export interface ContractSubject {
  engine: Engine;
  /** Whatever of `rig` is still there once the suite is done (empty: nothing). */
  leftovers(rig: string): Promise<string[]>;
}

/**
 * The contract of the runtime's roles, as the engine relies on them: one spec, run against the in-memory fake
 * (test/unit/runtime-contract.test.ts), the Docker engine (test/e2e/runtime-contract.e2e.test.ts) and the local LXD
 * daemon for a rig of LXD nodes only (test/e2e/lxd-runtime.e2e.test.ts), so that the
 * fake the unit tests trust behaves as the real runtime does. Each step builds on the one before (a rig made, its
 * sidecar started, its etcd locked down, then taken down), as `up` and `down` use them.
 */
export function runtimeContract(
  runtime: string,
  rig: string,
  subject: () => Promise<ContractSubject>,
  backend: 'docker' | 'lxd' = 'docker', // lxd: every node on LXD, so the rig's segment is LXD's (its bridge, its sidecar)
): void {
  describe(`the runtime contract, against ${runtime}`, () => {
    const plan: Plan = planRig(
      parseRigFile(
        `name: ${rig}\ndomain: c.test\nbackend: ${backend}\nconfigs: []\nnodes:\n  a.c.test:\n  b.c.test:\n`,
        `/tmp/${rig}.yaml`,
      ),
    );
    const rootPassword = `root-${rig}`;
    let s: ContractSubject;
    let network: RigNetwork;
    let sidecar: string;
    let socket: string;

    beforeAll(async () => {
      s = await subject();
    });
    afterAll(async () => {
      if (!s) return;
      await destroyRig(s.engine, rig);
      expect(await s.leftovers(rig)).toEqual([]);
    });

    it('registry: a rig network is found by its rig, carrying its marks, and listed with every rig', async () => {
      const request = { name: plan.network, pool: plan.spec.network.pool, internal: true, segment: plan.segment };
      ({ network } = await s.engine.network.createNetwork({ ...request, labels: { [Label.rig]: rig, [Label.spec]: 'mark' } }));
      expect((await s.engine.rigs.networks(rig)).map((n) => [n.id, n.labels[Label.spec]])).toEqual([[network.id, 'mark']]);
      expect((await s.engine.rigs.networks()).map((n) => n.id)).toContain(network.id);
      expect(await s.engine.rigs.networks(`${rig}-none`)).toEqual([]);
      expect(network.addresses.subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    });

    it("claim: the sidecar's name is the rig's; a second sidecar of that name is refused with NameTaken", async () => {
      sidecar = await s.engine.sidecars.create(plan, network, rootPassword);
      await expect(s.engine.sidecars.create(plan, network, 'another')).rejects.toBeInstanceOf(NameTaken);
      const named = await s.engine.rigs.containersNamed([plan.sidecar.container]);
      expect(named).toEqual([{ name: plan.sidecar.container, rig }]);
      expect((await s.engine.rigs.containers(rig)).map((c) => [c.id, c.role])).toEqual([[sidecar, 'sidecar']]);
    });

    it('sidecar: its start says it runs first; dnsmasq serves the bridge once it is wired; etcd serves the host at any point after the start', async () => {
      const said: string[] = [];
      await s.engine.sidecars.start(plan, network, sidecar, {
        started: () => said.push('started'),
        wired: () => said.push('wired'),
        etcdServes: (path) => ((socket = path), said.push('etcd')),
        bridgeServes: () => said.push('bridge'),
      });
      // etcd's Unix socket needs no bridge, and dnsmasq no etcd: etcd may serve before the wiring, or after the
      // bridge (both seen on Docker under load). What the engine relies on: the start first, the bridge after the wiring.
      expect(said[0]).toBe('started');
      expect([...said].sort()).toEqual(['bridge', 'etcd', 'started', 'wired']);
      expect(said.indexOf('bridge')).toBeGreaterThan(said.indexOf('wired'));
      expect((await s.engine.rigs.containers(rig)).find((c) => c.id === sidecar)?.state).toBe('running');
    });

    it('sidecar: its config reserves each planned node an address by its MAC, and a reload replaces it', async () => {
      const labels = (await s.engine.rigs.containers(rig)).find((c) => c.id === sidecar)!.labels;
      const planned = assignAddresses(plan, network.addresses);
      expect(s.engine.sidecars.reserved(labels)).toEqual(new Map(plan.nodes.map((n) => [n.mac, planned.get(n.spec.name)!])));
      const fewer = { ...plan, nodes: plan.nodes.slice(0, 1) };
      await s.engine.sidecars.reload({ id: sidecar, labels }, nodesConf(fewer, planned), 1);
      expect([...s.engine.sidecars.reserved(labels)!.keys()]).toEqual([plan.nodes[0].mac]);
      await s.engine.sidecars.reload({ id: sidecar, labels }, nodesConf(plan, planned), 2);
    });

    it("facts: etcd locked down with the root password keeps the rig's facts and marks, read back as put", async () => {
      const url = etcdUrl(network);
      const open = await s.engine.facts({ url, socket });
      await open
        .lockDown(
          rig,
          rootPassword,
          plan.nodes.map((n) => n.spec.name),
        )
        .finally(() => open.close());
      const labels = (await s.engine.rigs.containers(rig)).find((c) => c.id === sidecar)!.labels;
      expect(labels[Label.etcdRoot]).toBe(rootPassword); // the host's later commands find it here
      const facts: Facts = await s.engine.facts({ ...hostAccess(network, labels, rig), socket });
      try {
        await facts.putFacts(rig, 'a.c.test', { role: 'web' });
        expect(await facts.nodeFacts(rig, 'a.c.test')).toMatchObject({ role: 'web' });
        await facts.setMark(rig, 'kept', 'yes');
        expect(await facts.mark(rig, 'kept')).toBe('yes');
        await facts.deleteMark(rig, 'kept');
        expect(await facts.mark(rig, 'kept')).toBeNull();
      } finally {
        facts.close();
      }
      const refused = await s.engine
        .facts({ url, rootPassword: 'not-it', socket })
        .then(async (wrong) => wrong.putFacts(rig, 'a.c.test', { role: 'db' }).finally(() => wrong.close()))
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refused).toBeInstanceOf(Error); // locked down: not without its root password
    });

    it('gate: the nodes are let in once asked', async () => {
      await expect(s.engine.sidecars.letNodesIn(sidecar, plan.nodes.length)).resolves.toBeUndefined();
    });

    it('down: the rig is taken down whole, by its labels alone', async () => {
      await destroyRig(s.engine, rig);
      expect(await s.engine.rigs.networks(rig)).toEqual([]);
      expect(await s.engine.rigs.containers(rig)).toEqual([]);
      expect(await s.engine.rigs.containersNamed([plan.sidecar.container])).toEqual([]);
    });
  });
}
