import { Label } from '../labels.js';
import { FactStore } from '../facts/store.js';
import { findRigContainers } from '../runtime/docker/containers.js';
import { findRigNetworks } from '../runtime/docker/network.js';
import type { NodeInstance } from '../runtime/backend.js';
import { etcdUrl } from '../sidecars/sidecars.js';
import type { Engine } from './context.js';

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
      const etcdRunning = (await findRigContainers(engine.docker, rig)).some((c) => c.role === 'sidecar' && c.state === 'running');
      const state = etcdRunning ? await withFacts(etcdUrl(net), (f) => f.rigState(rig)) : new Map();
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

export async function withFacts<T>(url: string, fn: (facts: FactStore) => Promise<T>): Promise<T> {
  const facts = await FactStore.connect(url);
  try {
    return await fn(facts);
  } finally {
    facts.close();
  }
}
