import { Label } from '../labels.js';
import { FactStore, type FactAccess } from '../facts/store.js';
import { findRigContainers } from '../runtime/docker/containers.js';
import { findRigNetworks } from '../runtime/docker/network.js';
import type { NodeInstance } from '../runtime/backend.js';
import { etcdUrl } from '../sidecars/sidecars.js';
import type { Engine } from './context.js';
import { ExitCode, RigError } from '../errors.js';

export interface NodeStatus {
  node: string;
  address: string;
  mirrors: string;
  state: string; // the stage the node published, or its container state when it has none
  backend: string;
}

export interface RigStatus {
  rig: string;
  subnet: string;
  dns: string; // the rig's DNS server: dig @<dns> <node> from the host
  etcd: string;
  file?: string;
  nodes: NodeStatus[];
}

/** The rigs that are up (or one of them), each node with the address and stage it published itself. */
export async function rigStatus(engine: Engine, only?: string): Promise<RigStatus[]> {
  const networks = await findRigNetworks(engine.docker, only);
  return Promise.all(
    networks.map(async (net) => {
      const rig = net.labels[Label.rig];
      const nodes = (await Promise.all(Object.values(engine.backends).map((b) => b.list(rig)))).flat();
      const sidecar = (await findRigContainers(engine.docker, rig)).find((c) => c.role === 'sidecar');
      const state =
        sidecar?.state === 'running' ? await withFacts({ url: etcdUrl(net), rootPassword: sidecar.labels[Label.etcdRoot] }, (f) => f.rigState(rig)) : new Map();
      return {
        rig,
        subnet: net.addresses.subnet,
        dns: net.addresses.dnsmasq,
        etcd: etcdUrl(net),
        file: net.labels[Label.rigFile],
        nodes: nodes
          .sort((a, b) => a.node.localeCompare(b.node))
          .map((n: NodeInstance) => ({
            node: n.node,
            address: state.get(n.node)?.facts.ipaddress ?? '',
            mirrors: n.mirrors ?? '',
            state: n.running ? (state.get(n.node)?.stage ?? 'created') : 'stopped',
            backend: n.backend,
          })),
      };
    }),
  );
}

/** How the host reaches a rig's etcd: its address on the rig network, as root (the password is on the sidecar). */
export async function factAccess(engine: Engine, rig: string): Promise<FactAccess> {
  const [[network], containers] = await Promise.all([findRigNetworks(engine.docker, rig), findRigContainers(engine.docker, rig)]);
  if (!network) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig status', ExitCode.badInput);
  return { url: etcdUrl(network), rootPassword: containers.find((c) => c.role === 'sidecar')?.labels[Label.etcdRoot] };
}

export async function withFacts<T>(access: FactAccess, fn: (facts: FactStore) => Promise<T>): Promise<T> {
  const facts = await FactStore.connect(access);
  try {
    return await fn(facts);
  } finally {
    facts.close();
  }
}
