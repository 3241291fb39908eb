import { Label } from '../../labels.js';
import type { RigContainer, RigNetwork, RigNetworks, RigRegistry, Sidecars } from '../runtime.js';
import type { SegmentRoles } from '../segments.js';
import { instanceState, lxdRigRegistry } from './registry.js';
import { lxdNetworks, networkNamed, type NetworkPlace } from './rig-networks.js';
import { LxdSidecars } from './sidecar.js';
import type { LxdSites, Site } from './sites.js';
import { placeKey } from './places.js';

/**
 * LXD's roles (registry, networks, sidecars, wiring state) for rigs in any LXD place: each call goes to the place of
 * the rig it is about (sites.ts: this host's daemon, or the remote its rig file names, as recorded), so a rig on a
 * cluster has its network and sidecar there, beside its nodes. A call that names only an id (a sidecar's or a node's
 * instance, a network's id) goes where that id was last seen, else to the first known place that has it.
 */

/** One place's roles, and its sidecars (their own role's helpers). */
interface PlaceParts {
  roles: SegmentRoles;
  sidecars: LxdSidecars;
}

export interface PlaceRolesOptions {
  cacheDir: string;
  sidecarImage: string;
}

export class LxdPlaceRoles {
  private readonly parts = new Map<string, PlaceParts>();
  private readonly seen = new Map<string, Site>(); // id -> the place it was seen in

  constructor(
    private readonly sites: LxdSites,
    private readonly options: PlaceRolesOptions,
  ) {}

  private partsAt(site: Site): PlaceParts {
    const key = placeKey(site.place);
    let parts = this.parts.get(key);
    if (!parts) {
      const { client } = site;
      const local = this.sites.isLocal(site);
      const sidecars = new LxdSidecars(client, site.images, { cacheDir: this.options.cacheDir, image: this.options.sidecarImage });
      const where: NetworkPlace = { local, members: () => onlineMembers(site) };
      const socket = 'socket' in site.remote.endpoint ? site.remote.endpoint.socket : undefined;
      parts = {
        sidecars,
        roles: {
          rigs: lxdRigRegistry(client, socket, sidecars),
          network: lxdNetworks(client, where),
          sidecars,
          containerState: (id) => instanceState(client, id),
        },
      };
      this.parts.set(key, parts);
    }
    return parts;
  }

  private rolesOf(rig: string): { site: Site; roles: SegmentRoles } {
    const site = this.sites.of(rig);
    return { site, roles: this.partsAt(site).roles };
  }

  private note<T extends { id: string }>(site: Site, items: T[]): T[] {
    for (const item of items) this.seen.set(item.id, site);
    return items;
  }

  /** Every place this host knows of, each asked `ask`; a remote that does not answer has nothing to add. */
  private async everywhere<T>(ask: (roles: SegmentRoles, site: Site) => Promise<T[]>): Promise<T[]> {
    const sites = this.sites.known().filter((s) => !this.sites.absent(s));
    const answers = await Promise.all(
      sites.map((site) => {
        const asked = ask(this.partsAt(site).roles, site);
        return site.place.remote === undefined ? asked : asked.catch(() => [] as T[]);
      }),
    );
    return answers.flat();
  }

  /** The place an instance or network id is in: where it was seen, else the first known place that has it. */
  private async byId(id: string): Promise<SegmentRoles> {
    let site = this.seen.get(id);
    if (!site) {
      for (const candidate of this.sites.known().filter((s) => !this.sites.absent(s))) {
        const has = await Promise.all([
          candidate.client.instance(id).catch(() => undefined),
          networkNamed(candidate.client, id).catch(() => undefined),
        ]);
        if (has.some(Boolean)) {
          site = candidate;
          break;
        }
      }
      if (site) this.seen.set(id, site);
    }
    return this.partsAt(site ?? this.sites.at({})).roles;
  }

  /** Whether an id is one of the rig networks of a place this host knows of. */
  async hasNetwork(id: string): Promise<boolean> {
    if (this.seen.has(id)) return true;
    return (await this.everywhere(async (roles, site) => this.note(site, await roles.rigs.networks()))).some((n) => n.id === id);
  }

  roles(): SegmentRoles {
    return {
      rigs: this.registry(),
      network: this.networks(),
      sidecars: this.sidecars(),
      containerState: async (id) => (await this.byId(id)).containerState(id),
    };
  }

  private registry(): RigRegistry {
    return {
      networks: async (rig): Promise<RigNetwork[]> => {
        if (rig === undefined) return this.everywhere(async (roles, site) => this.note(site, await roles.rigs.networks()));
        const { site, roles } = this.rolesOf(rig);
        return this.note(site, await roles.rigs.networks(rig));
      },
      containers: async (rig): Promise<RigContainer[]> => {
        if (rig === undefined) return this.everywhere(async (roles, site) => this.note(site, await roles.rigs.containers()));
        const { site, roles } = this.rolesOf(rig);
        return this.note(site, await roles.rigs.containers(rig));
      },
      removeContainer: async (id) => (await this.byId(id)).rigs.removeContainer(id),
      containersNamed: (names) => this.everywhere((roles) => roles.rigs.containersNamed(names)),
      watchStarts: (rig, networkId, onStart, onEnd) => this.rolesOf(rig).roles.rigs.watchStarts(rig, networkId, onStart, onEnd),
      engineStopped: (err, rig) =>
        this.partsAt(rig === undefined ? this.sites.at({}) : this.sites.of(rig)).roles.rigs.engineStopped(err, rig),
    };
  }

  private networks(): RigNetworks {
    return {
      createNetwork: async (request) => {
        const { site, roles } = this.rolesOf(request.labels[Label.rig]);
        const made = await roles.network.createNetwork(request);
        this.seen.set(made.network.id, site);
        return made;
      },
      removeNetwork: async (id) => (await this.byId(id)).network.removeNetwork(id),
      removeOwnNetwork: async (id, rig) => this.rolesOf(rig).roles.network.removeOwnNetwork(id, rig),
      checkSubnetFree: (subnet) => this.partsAt(this.sites.at({})).roles.network.checkSubnetFree(subnet),
      guardPorts: (rig, networkId, ports) => this.rolesOf(rig).roles.network.guardPorts(rig, networkId, ports),
    };
  }

  private sidecars(): Sidecars {
    const first = this.partsAt(this.sites.at({})).sidecars; // what needs no place: the sidecar's state on this host
    return {
      create: async (plan, net, password) => {
        const { site, roles } = this.rolesOf(plan.name);
        const id = await roles.sidecars.create(plan, net, password);
        this.seen.set(id, site);
        return id;
      },
      start: (plan, net, id, events) => this.rolesOf(plan.name).roles.sidecars.start(plan, net, id, events),
      letNodesIn: async (id, nodes) => (await this.byId(id)).sidecars.letNodesIn(id, nodes),
      reload: async (sidecar, conf, nodes) => (await this.byId(sidecar.id)).sidecars.reload(sidecar, conf, nodes),
      startAgain: async (id, timeoutMs) => (await this.byId(id)).sidecars.startAgain(id, timeoutMs),
      reserved: (labels) => first.reserved(labels),
      removeState: (labels) => first.removeState(labels),
      watch: async (onEvent) => {
        const stops = await this.everywhere(async (roles) => [await roles.sidecars.watch(onEvent)]);
        return () => stops.forEach((stop) => stop());
      },
      waitForLog: async (id, patterns, timeoutMs) => (await this.byId(id)).sidecars.waitForLog(id, patterns, timeoutMs),
      streamLog: async (id, options, onLine, signal) => (await this.byId(id)).sidecars.streamLog(id, options, onLine, signal),
    };
  }
}

/** A cluster's online members, by name (undefined: the place is not a cluster). */
async function onlineMembers(site: Site): Promise<string[] | undefined> {
  const lost = await site.lostMembers();
  const all = await site.members();
  return all && all.filter((m) => !lost.has(m));
}
