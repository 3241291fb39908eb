import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../../src/engine/context.js';
import type { Facts } from '../../src/facts/store.js';
import type { Images } from '../../src/runtime/images.js';
import type { Plan } from '../../src/plan/plan.js';
import { nodeSettingsHash, rigAddresses } from '../../src/plan/plan.js';
import type { NodeBackend, NodeInstance, NodeLaunch } from '../../src/runtime/backend.js';
import type { NetworkRequest, RigContainer, RigNetwork } from '../../src/runtime/runtime.js';
import type { HostWiring, RigNetworks, RigRegistry } from '../../src/runtime/runtime.js';
import type { GuardedPort } from '../../src/runtime/port-guard.js';
import { assignAddresses, NODES_CONF, nodesConf, reservedInConf } from '../../src/plan/sidecar.js';
import { NameTaken, type Sidecars } from '../../src/runtime/runtime.js';

/** How a fake node's agent behaves: ready (the default), a failed step, silence, or a death once wired. */
export type NodeScript = 'ready' | 'fails' | 'silent' | 'dies';

/**
 * A container engine, host, sidecar and etcd in memory: rig networks, labelled containers (a foreign one may be
 * attached to a network), nodes whose agent publishes its stages as scripted, and what was asked of the host.
 * Enough for the engine's decisions (up, down, failure cleanup, interrupts, the reaper, gc) without root or an engine.
 * As the real sidecar does, it keeps the nodes out of etcd until they are let in (the gate), keeps each node's
 * address reservation (by MAC) in its config, and its etcd, once locked down, answers only to the root password; it
 * keeps facts and marks. The runtime contract (test/contract/runtime.contract.ts) holds it to what Docker does.
 */
export class FakeRuntime implements RigRegistry, RigNetworks, HostWiring {
  readonly nets: RigNetwork[] = [];
  readonly boxes: RigContainer[] = [];
  readonly nodes: NodeInstance[] = [];
  readonly attached = new Map<string, string[]>(); // network id -> foreign container names
  readonly unwired: Array<{ rig: string; hostInterfaces: string[] }> = [];
  readonly scripts = new Map<string, NodeScript>(); // node fqdn -> how its agent behaves
  readonly stages = new Map<string, string>(); // "rig/node" -> the stage it published
  readonly guards = new Map<string, GuardedPort[]>(); // "rig/network id" -> its port guard, as last set
  /** Called when a node is launched, before its agent runs: a test's chance to interrupt at that instant. */
  onLaunch: (node: string) => void = () => {};
  /** Where the fake sidecar keeps its dnsmasq node config, as the real one does (a reconcile reads and rewrites it). */
  stateDir?: string;
  /** Called when a network is made, before the sidecar: a test's chance to let another up claim the name. */
  onNetwork: () => void = () => {};
  private readonly deaths = new Set<(node: string) => void>();
  private readonly gates = new Map<string, { open: () => void; opened: Promise<void> }>(); // rig -> its sidecar's gate
  private readonly confs = new Map<string, string>(); // sidecar id -> its dnsmasq node config
  private readonly etcd = {
    roots: new Map<string, string>(), // rig -> the root password it was locked down with
    facts: new Map<string, Record<string, string>>(), // "rig/node" -> its facts
    marks: new Map<string, string>(), // "rig/name" -> the mark's value
  };
  private readonly stageWatchers = new Set<(rig: string, node: string, stage: string) => void>();

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

  async removeOwnNetwork(id: string, rig: string) {
    await this.removeNetwork(id);
    this.guards.delete(`${rig}/${id}`);
  }

  async guardPorts(rig: string, networkId: string, ports: GuardedPort[]) {
    this.guards.set(`${rig}/${networkId}`, ports);
  }

  async removeHostInterfaces(hostInterfaces: string[]) {
    this.unwired.push({ rig: '', hostInterfaces });
  }

  async removeWiring(rig: string, hostInterfaces: string[]) {
    this.unwired.push({ rig, hostInterfaces });
    for (const key of [...this.guards.keys()]) if (key.startsWith(`${rig}/`)) this.guards.delete(key);
  }

  async containersNamed(names: string[]) {
    const all = [
      ...this.boxes.map((c) => ({ name: c.name, rig: c.labels['io.rig.rig'] })),
      ...this.nodes.map((n) => ({ name: n.name, rig: n.rig })),
    ];
    return all.filter((c) => names.includes(c.name));
  }

  checkSubnetFree() {}

  engineStopped() {
    return undefined;
  }

  async imageExists(_ref: string) {
    return true;
  }

  async imageHasFile() {
    return true;
  }

  async createNetwork(request: NetworkRequest) {
    const net = this.addNetwork(request.labels['io.rig.rig'], request.labels, request.labels['io.rig.owner']);
    this.onNetwork();
    return { network: net, firewall: Promise.resolve() };
  }

  async watchStarts() {
    return () => {};
  }

  async containerState() {
    return { running: true, pid: 1, stoppedBefore: false };
  }

  async wire() {}

  sidecars(): Sidecars {
    return {
      create: async (plan: Plan, net: RigNetwork, etcdRootPassword: string) => {
        if (this.boxes.some((c) => c.name === plan.sidecar.container)) throw new NameTaken('name taken');
        const id = `sc-${plan.name}`;
        const labels: Record<string, string> = { 'io.rig.rig': plan.name, 'io.rig.etcd-root': etcdRootPassword, 'io.rig.state': id };
        const conf = nodesConf(plan, assignAddresses(plan, net.addresses));
        this.confs.set(id, conf);
        if (this.stateDir) {
          mkdirSync(join(this.stateDir, 'misc'), { recursive: true });
          writeFileSync(join(this.stateDir, 'misc', 'rig-nodes.conf'), conf);
          labels['io.rig.state'] = this.stateDir;
        }
        let open = () => {};
        const opened = new Promise<void>((resolve) => (open = resolve));
        this.gates.set(plan.name, { open, opened });
        this.boxes.push({ id, name: plan.sidecar.container, role: 'sidecar', state: 'created', labels });
        return id;
      },
      start: async (_plan, _net, id, events = {}) => {
        const box = this.boxes.find((c) => c.id === id);
        if (!box) throw new Error(`no container ${id}`);
        box.state = 'running';
        events.started?.();
        events.wired?.();
        events.etcdServes?.('/run/etcd.sock');
        events.bridgeServes?.();
      },
      letNodesIn: async (id) => this.gates.get(this.boxes.find((c) => c.id === id)?.labels['io.rig.rig'] ?? '')?.open(),
      reload: async (sidecar, conf) => {
        this.confs.set(sidecar.id, conf);
        if (this.stateDir) writeFileSync(join(sidecar.labels['io.rig.state'], 'misc', 'rig-nodes.conf'), conf);
      },
      startAgain: async (id) => {
        const box = this.boxes.find((c) => c.id === id);
        if (!box) throw new Error(`no container ${id}`);
        box.state = 'running';
      },
      reserved: (labels) => {
        const state = labels['io.rig.state'];
        const kept = [...this.boxes.filter((c) => c.labels['io.rig.state'] === state)].map((c) => this.confs.get(c.id)).find(Boolean);
        if (this.stateDir && state === this.stateDir && existsSync(join(state, NODES_CONF)))
          return reservedInConf(readFileSync(join(state, NODES_CONF), 'utf8'));
        return state && kept ? reservedInConf(kept) : undefined;
      },
      removeState: (labels) => {
        for (const box of this.boxes.filter((c) => c.labels['io.rig.state'] === labels['io.rig.state'])) this.confs.delete(box.id);
      },
      watch: async () => () => {},
      waitForLog: async () => {},
      streamLog: async () => {},
    };
  }

  /** A client of the fake etcd, as the host connects with `rootPassword` (none: before the lock-down). */
  facts(rootPassword?: string): Facts {
    const publish = (rig: string, node: string, stage: string) => {
      this.stages.set(`${rig}/${node}`, stage);
      for (const watcher of this.stageWatchers) watcher(rig, node, stage);
    };
    const { roots, facts, marks } = this.etcd;
    /** Locked down, a rig's etcd answers only to its root password. */
    const asRoot = async (rig: string) => {
      if (roots.has(rig) && roots.get(rig) !== rootPassword) throw new Error(`etcd of rig ${rig}: authentication failed`);
    };
    return {
      lockDown: async (rig, password) => {
        await asRoot(rig);
        roots.set(rig, password);
      },
      addNodes: async (rig) => asRoot(rig),
      removeNode: async (rig, node) => {
        await asRoot(rig);
        facts.delete(`${rig}/${node}`);
      },
      putFacts: async (rig, node, put) => {
        await asRoot(rig);
        facts.set(`${rig}/${node}`, { ...facts.get(`${rig}/${node}`), ...put });
      },
      nodeFacts: async (rig, node) => (await asRoot(rig), { ...facts.get(`${rig}/${node}`) }),
      setMark: async (rig, name, value) => (await asRoot(rig), void marks.set(`${rig}/${name}`, value)),
      mark: async (rig, name) => (await asRoot(rig), marks.get(`${rig}/${name}`) ?? null),
      deleteMark: async (rig, name) => (await asRoot(rig), void marks.delete(`${rig}/${name}`)),
      recordHistory: async () => async () => {},
      watchHostSteps: async () => () => {},
      answerHostStep: async () => {},
      rigState: async () => new Map(),
      setStage: async (rig, node, stage) => publish(rig, node, stage),
      watchStages: async (rig, onStage) => {
        const watcher = (r: string, node: string, stage: string) => r === rig && onStage(node, stage);
        this.stageWatchers.add(watcher);
        return async () => void this.stageWatchers.delete(watcher);
      },
      close: () => {},
    };
  }

  /** A Docker node backend whose node, once wired and let in, publishes the stages its script says (through the fake etcd). */
  backend(): NodeBackend {
    const facts = this.facts();
    const list = async (rig?: string) => this.nodes.filter((n) => !rig || n.rig === rig);
    const removeAll = async (rig: string) => void this.nodes.splice(0, this.nodes.length, ...this.nodes.filter((n) => n.rig !== rig));
    const launch = async ({ rig, node, mayStart, networkReady, links }: NodeLaunch) => {
      const settings = nodeSettingsHash(node.spec);
      this.nodes.push({ rig, node: node.spec.name, backend: 'docker', name: node.container, running: false, links, settings });
      this.onLaunch(node.spec.name);
      await mayStart;
      this.nodes.find((n) => n.node === node.spec.name && n.rig === rig)!.running = true;
      await networkReady;
      const script = this.scripts.get(node.spec.name) ?? 'ready';
      if (script === 'dies') return void setImmediate(() => this.deaths.forEach((onDeath) => onDeath(node.spec.name)));
      const publish = () =>
        setImmediate(() => {
          if (script === 'ready') void facts.setStage(rig, node.spec.name, 'ready');
          if (script === 'fails') void facts.setStage(rig, node.spec.name, 'failed: step 1/1 (shell) exited 3');
        });
      // What it publishes waits until its sidecar's etcd lets it in (the gate); the launch does not.
      const gate = this.gates.get(rig);
      if (gate) void gate.opened.then(publish);
      else publish();
    };
    const remove = async (gone: NodeInstance) =>
      void this.nodes.splice(0, this.nodes.length, ...this.nodes.filter((n) => !(n.rig === gone.rig && n.node === gone.node)));
    const unused = () => Promise.reject(new Error('not in the fake'));
    return {
      kind: 'docker',
      watchDeaths: async (_rig: string, onDeath: (node: string) => void) => {
        this.deaths.add(onDeath);
        return () => void this.deaths.delete(onDeath);
      },
      list,
      removeAll,
      remove,
      launch,
      exec: unused,
      attach: unused,
      // A failed node's agent says why in its log, last (rig waits for that line before it shows the log's tail).
      logs: async (n: NodeInstance) =>
        this.scripts.get(n.node) === 'fails' ? 'rig-agent: step 1/1: shell\ndisk full\nrig-agent: failed: step 1/1 (shell) exited 3\n' : '',
      streamLogs: unused,
      power: unused,
    };
  }

  engine(): Engine {
    const images: Images = {
      ref: (name) => `rig/${name}:fake`,
      missing: async () => [],
      build: async () => {},
      buildRef: (build) => `rig-build/fake:${build.hash.slice(0, 12)}`,
      buildImage: async () => {},
      exists: (ref) => this.imageExists(ref),
      hasFile: () => this.imageHasFile(),
      listBuilt: async () => [],
      usersByImage: async () => new Map(),
      removeRef: async () => {},
    };
    return {
      images,
      rigs: this,
      network: this,
      sidecars: this.sidecars(),
      wiring: this,
      facts: async (access) => this.facts(access.rootPassword),
      backends: { docker: this.backend() },
    };
  }
}
