import { ExitCode, RigError } from '../errors.js';
import type { NodeBackend } from './backend.js';
import type { Segment } from './kind.js';
import {
  EngineAbsent,
  type HostWiring,
  type RigContainer,
  type RigNetwork,
  type RigNetworks,
  type RigRegistry,
  type Sidecars,
} from './runtime.js';

/**
 * The runtime's roles over both segments a rig can have (kind.ts: Segment): Docker's (a Docker bridge and the
 * Docker sidecar) and LXD's (an LXD bridge and the sidecar as an LXD instance). A rig is on one of them; each call
 * goes to the one its rig, network or sidecar is on, so a rig on LXD is driven with no call to Docker at all (the
 * Docker engine is connected to on its first call only: docker/connect.ts). Listings of every rig ask both, and a
 * Docker engine that is not there at all lists nothing where an LXD daemon is (its rigs are what this host has).
 */

/** One segment's roles. */
export interface SegmentRoles {
  rigs: RigRegistry;
  network: RigNetworks;
  sidecars: Sidecars;
  containerState: HostWiring['containerState'];
}

export interface SegmentParts {
  docker: SegmentRoles;
  /** LXD's roles, if an LXD daemon is on this host (undefined: none, and no rig is on LXD). */
  lxd: () => SegmentRoles | undefined;
  /** Whether an LXD network id is one of this segment's rig networks. */
  lxdNetwork: (id: string) => Promise<boolean>;
  /** Whether a Docker engine may answer here (its socket is on this host, or it is reached over TCP). */
  dockerMayBeHere: () => boolean;
  /** Whether a bridge is an LXD rig bridge (LXD wires its own NICs on it). */
  lxdBridge: (bridge: string) => boolean;
  /** A warning for the user (a listing that leaves out what it could not see). */
  warn?: (message: string) => void;
}

/**
 * Docker's containers are named by their ids (hex) or by rig's names for them (`rig-<rig>.<node>`, dotted); LXD's
 * instances by names that are never all hex and never dotted (plan.ts: undottedName).
 */
const isHexId = (id: string) => /^[0-9a-f]{12,64}$/.test(id);
const onDocker = (id: string) => isHexId(id) || id.includes('.');

/** Docker not there at all (exit 3 at its first call), as opposed to a Docker that fails a call. */
const noDocker = (err: unknown) => err instanceof EngineAbsent;

/** LXD's roles where no LXD daemon is: it has no rigs, and makes nothing (the backend's check says why first). */
const noLxd = (): never => {
  throw new RigError('No LXD daemon is on this host, and this rig is on LXD.', 'start one: scripts/lxd-host up', ExitCode.badInput);
};
const NO_LXD: SegmentRoles = {
  rigs: {
    networks: async () => [],
    containers: async () => [],
    containersNamed: async () => [],
    removeContainer: async () => noLxd(),
    watchStarts: async () => noLxd(),
    engineStopped: () => undefined,
  },
  network: {
    createNetwork: async () => noLxd(),
    removeNetwork: async () => noLxd(),
    removeOwnNetwork: async () => noLxd(),
    checkSubnetFree: () => undefined,
    guardPorts: async () => noLxd(),
  },
  sidecars: new Proxy({} as Sidecars, { get: () => noLxd }),
  containerState: async () => noLxd(),
};

export class Segments {
  private readonly known = new Map<string, Segment>();
  private readonly placed = new Map<string, Segment>();
  private readonly networkSegments = new Map<string, Segment>();
  private warnedSilent = false; // once per command: every listing of a command asks LXD

  constructor(private readonly parts: SegmentParts) {}

  /** The segment a rig about to be made goes on, unless it is up already on the other. */
  place(rig: string, segment: Segment): void {
    this.placed.set(rig, segment);
  }

  /**
   * The segment a rig is on: LXD's if LXD has its network or its sidecar; else where it is about to be made (place).
   * A rig about to be made on LXD is looked for in Docker too (a rig of that name up there is the same rig), but only
   * if Docker's socket is on this host, and a Docker that does not answer has none.
   */
  async of(rig: string): Promise<Segment> {
    const known = this.known.get(rig);
    if (known) return known;
    const onLxd = await this.onLxd(rig);
    let segment: Segment = onLxd ? 'lxd' : (this.placed.get(rig) ?? 'docker');
    if (!onLxd && segment === 'lxd' && this.parts.dockerMayBeHere()) {
      const onDocker = await this.dockerUnlessAbsent(() => this.parts.docker.rigs.networks(rig));
      if (onDocker.length) segment = 'docker';
    }
    this.known.set(rig, segment);
    return segment;
  }

  /**
   * Whether LXD has the rig's network or sidecar. An LXD daemon whose socket is here but that does not answer (it
   * stopped uncleanly, or is stopping) has none of a rig about to be made on Docker or up there; of any other rig,
   * that it does not answer is the error.
   */
  private async onLxd(rig: string): Promise<boolean> {
    const lxd = this.parts.lxd();
    if (!lxd) return false;
    try {
      return (await lxd.rigs.networks(rig)).length > 0 || (await lxd.rigs.containers(rig)).length > 0;
    } catch (err) {
      const silent = lxd.rigs.engineStopped(err, rig);
      if (!silent) throw err;
      if (this.placed.get(rig) === 'docker') return false;
      if (this.placed.get(rig) === 'lxd')
        throw new RigError(silent.message, 'start it (scripts/lxd-host up); nothing of the rig is made', ExitCode.badInput, { cause: err });
      if (this.parts.dockerMayBeHere() && (await this.dockerUnlessAbsent(() => this.parts.docker.rigs.networks(rig))).length) return false;
      throw silent;
    }
  }

  private roles(segment: Segment): SegmentRoles {
    return segment === 'lxd' ? (this.parts.lxd() ?? NO_LXD) : this.parts.docker;
  }

  private async forRig(rig: string): Promise<SegmentRoles> {
    return this.roles(await this.of(rig));
  }

  private byId(id: string): SegmentRoles {
    return onDocker(id) || !this.parts.lxd() ? this.parts.docker : this.parts.lxd()!;
  }

  private async byNetwork(id: string): Promise<SegmentRoles> {
    // Docker's network ids are hex; LXD's rig bridges are named rl<hex> (lxd/rig-networks.ts)
    const segment =
      this.networkSegments.get(id) ?? (!isHexId(id) && this.parts.lxd() && (await this.parts.lxdNetwork(id)) ? 'lxd' : 'docker');
    return this.roles(segment);
  }

  /** Both segments' answers (Docker's none where it is not there and an LXD daemon is). */
  async both<T>(ask: (roles: SegmentRoles) => Promise<T[]>): Promise<T[]> {
    const lxd = this.parts.lxd();
    const [fromLxd, fromDocker] = await Promise.all([
      lxd ? this.unlessSilent(lxd, ask) : [],
      this.dockerUnlessAbsent(() => ask(this.parts.docker)),
    ]);
    return [...fromLxd, ...fromDocker];
  }

  /** What LXD answers; nothing, with a warning, where its daemon does not answer (Docker's rigs are still listed). */
  private async unlessSilent<T>(lxd: SegmentRoles, ask: (roles: SegmentRoles) => Promise<T[]>): Promise<T[]> {
    return ask(lxd).catch((err: unknown) => {
      const silent = lxd.rigs.engineStopped(err);
      if (!silent) throw err;
      if (!this.warnedSilent) this.parts.warn?.(`${silent.message} Its rigs are not listed.`);
      this.warnedSilent = true;
      return [];
    });
  }

  /** What Docker answers; nothing where it is not there at all and an LXD daemon is. */
  async dockerUnlessAbsent<T>(ask: () => Promise<T[]>): Promise<T[]> {
    return ask().catch((err: unknown) => {
      if (this.parts.lxd() && noDocker(err)) return []; // the LXD daemon's rigs are this host's
      throw err;
    });
  }

  private remember(networks: RigNetwork[]): RigNetwork[] {
    for (const n of networks) this.networkSegments.set(n.id, n.segment ?? 'docker');
    return networks;
  }

  registry(): RigRegistry {
    return {
      networks: async (rig) =>
        this.remember(rig ? await (await this.forRig(rig)).rigs.networks(rig) : await this.both((r) => r.rigs.networks())),
      containers: async (rig): Promise<RigContainer[]> =>
        rig ? (await this.forRig(rig)).rigs.containers(rig) : this.both((r) => r.rigs.containers()),
      removeContainer: (id) => this.byId(id).rigs.removeContainer(id),
      containersNamed: async (names) => {
        // Docker's names have a dot (rig-<rig>.<name>); an LXD instance's never has one.
        const dotted = names.filter((n) => n.includes('.'));
        const lxd = this.parts.lxd();
        const undotted = names.filter((n) => !n.includes('.'));
        const [a, b] = await Promise.all([
          dotted.length ? this.parts.docker.rigs.containersNamed(dotted) : [],
          undotted.length && lxd ? lxd.rigs.containersNamed(undotted) : [],
        ]);
        return [...a, ...b];
      },
      watchStarts: async (rig, networkId, onStart, onEnd) => (await this.forRig(rig)).rigs.watchStarts(rig, networkId, onStart, onEnd),
      engineStopped: (err, rig) => this.parts.lxd()?.rigs.engineStopped(err, rig) ?? this.parts.docker.rigs.engineStopped(err, rig),
      place: (rig, segment) => this.place(rig, segment),
    };
  }

  networks(): RigNetworks {
    return {
      createNetwork: async (request) => {
        const segment = request.segment ?? 'docker';
        if (segment === 'lxd' && !this.parts.lxd())
          throw new RigError(
            'This rig is all LXD nodes, and no LXD daemon is on this host.',
            'start one: scripts/lxd-host up',
            ExitCode.badInput,
          );
        const made = await this.roles(segment).network.createNetwork(request);
        this.networkSegments.set(made.network.id, segment);
        return made;
      },
      removeNetwork: async (id) => (await this.byNetwork(id)).network.removeNetwork(id),
      removeOwnNetwork: async (id, rig) => (await this.byNetwork(id)).network.removeOwnNetwork(id, rig),
      checkSubnetFree: (subnet) => this.parts.docker.network.checkSubnetFree(subnet),
      guardPorts: async (rig, networkId, ports) => (await this.byNetwork(networkId)).network.guardPorts(rig, networkId, ports),
    };
  }

  sidecars(): Sidecars {
    const docker = this.parts.docker.sidecars;
    return {
      create: (plan, net, password) => this.roles(net.segment ?? 'docker').sidecars.create(plan, net, password),
      start: (plan, net, id, events) => this.roles(net.segment ?? 'docker').sidecars.start(plan, net, id, events),
      letNodesIn: (id, nodes) => this.byId(id).sidecars.letNodesIn(id, nodes),
      reload: (sidecar, conf, nodes) => this.byId(sidecar.id).sidecars.reload(sidecar, conf, nodes),
      startAgain: (id, timeoutMs) => this.byId(id).sidecars.startAgain(id, timeoutMs),
      reserved: (labels) => docker.reserved(labels), // the same state directory on this host, either way
      removeState: (labels) => docker.removeState(labels),
      watch: async (onEvent) => {
        const stops = await this.both(async (r) => [await r.sidecars.watch(onEvent)]);
        return () => stops.forEach((stop) => stop());
      },
      waitForLog: (id, patterns, timeoutMs) => this.byId(id).sidecars.waitForLog(id, patterns, timeoutMs),
      streamLog: (id, options, onLine, signal) => this.byId(id).sidecars.streamLog(id, options, onLine, signal),
    };
  }

  wiring(docker: HostWiring): HostWiring {
    return {
      containerState: (id) => this.byId(id).containerState(id),
      wire: async (bridge, hostInterface, mac, pid) => {
        if (this.parts.lxdBridge(bridge)) return; // LXD puts its NICs on its bridge itself, on every start
        await docker.wire(bridge, hostInterface, mac, pid);
      },
      removeHostInterfaces: (hostInterfaces) => docker.removeHostInterfaces(hostInterfaces), // this host's veths, whoever made them
      removeWiring: (rig, hostInterfaces) => docker.removeWiring(rig, hostInterfaces),
    };
  }

  /**
   * A backend of Docker's segment (its nodes are Docker containers, or need Docker's images): for a rig on LXD it
   * has no nodes, and is not asked; a listing of every rig's nodes asks it unless Docker is not there at all.
   */
  dockerBackend(backend: NodeBackend): NodeBackend {
    const scoped = Object.create(backend) as NodeBackend;
    scoped.list = async (rig) =>
      rig ? ((await this.of(rig)) === 'lxd' ? [] : backend.list(rig)) : this.dockerUnlessAbsent(() => backend.list());
    scoped.removeAll = async (rig) => ((await this.of(rig)) === 'lxd' ? undefined : backend.removeAll(rig));
    if (backend.watchDeaths)
      scoped.watchDeaths = async (rig, onDeath) => ((await this.of(rig)) === 'lxd' ? () => {} : backend.watchDeaths!(rig, onDeath));
    return scoped;
  }
}
