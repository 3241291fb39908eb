import { hostname } from 'node:os';
import type { Engine } from '../../src/engine/context.js';
import type { NodeBackend, NodeInstance } from '../../src/runtime/backend.js';
import type { RigContainer } from '../../src/runtime/docker/containers.js';
import type { RigNetwork } from '../../src/runtime/docker/network.js';
import type { RigRuntime } from '../../src/runtime/runtime.js';
import { rigAddresses } from '../../src/plan/plan.js';

/**
 * A container engine and host in memory: rig networks, labelled containers (a foreign one may be attached to a
 * network), nodes of one backend, and what was asked of the host. Enough for the engine's teardown decisions.
 */
export class FakeRuntime implements RigRuntime {
  readonly nets: RigNetwork[] = [];
  readonly boxes: RigContainer[] = [];
  readonly nodes: NodeInstance[] = [];
  readonly attached = new Map<string, string[]>(); // network id -> foreign container names
  readonly unwired: Array<{ rig: string; hostInterfaces: string[] }> = [];

  addNetwork(rig: string, labels: Record<string, string> = {}, owner = `${hostname()}:1`): RigNetwork {
    const id = `net${this.nets.length}${rig}`.padEnd(64, '0');
    const net = {
      id,
      name: `rig-${rig}`,
      bridge: `br-${id.slice(0, 12)}`,
      internal: true,
      addresses: rigAddresses('10.213.0.0/24'),
      labels: { 'io.rig.rig': rig, 'io.rig.owner': owner, ...labels },
      created: '',
    };
    this.nets.push(net);
    return net;
  }

  addSidecar(rig: string): void {
    this.boxes.push({ id: `sc-${rig}`, name: `rig-${rig}.sidecar`, role: 'sidecar', state: 'running', labels: { 'io.rig.rig': rig } });
  }

  addNode(rig: string, node: string, links: NodeInstance['links'] = []): void {
    this.nodes.push({ rig, node, backend: 'docker', name: `rig-${rig}.${node.split('.')[0]}`, running: true, links });
  }

  async networks(rig?: string) {
    return this.nets.filter((n) => !rig || n.labels['io.rig.rig'] === rig);
  }

  async containers(rig?: string) {
    return this.boxes.filter((c) => !rig || c.labels['io.rig.rig'] === rig);
  }

  async removeContainer(id: string) {
    this.boxes.splice(0, this.boxes.length, ...this.boxes.filter((c) => c.id !== id));
  }

  async removeNetwork(id: string) {
    this.nets.splice(0, this.nets.length, ...this.nets.filter((n) => n.id !== id));
    return this.attached.get(id) ?? [];
  }

  async removeOwnNetwork(id: string) {
    await this.removeNetwork(id);
  }

  async removeWiring(rig: string, hostInterfaces: string[]) {
    this.unwired.push({ rig, hostInterfaces });
  }

  backend(): NodeBackend {
    const list = async (rig?: string) => this.nodes.filter((n) => !rig || n.rig === rig);
    const removeAll = async (rig: string) => void this.nodes.splice(0, this.nodes.length, ...this.nodes.filter((n) => n.rig !== rig));
    const unused = () => Promise.reject(new Error('not in the fake'));
    return {
      kind: 'docker',
      list,
      removeAll,
      remove: unused,
      launch: unused,
      exec: unused,
      attach: unused,
      logs: unused,
      streamLogs: unused,
    };
  }

  engine(): Engine {
    return {
      docker: undefined as never,
      images: undefined as never,
      runtime: this,
      backends: { docker: this.backend() },
      prepare: async () => {},
    };
  }
}
