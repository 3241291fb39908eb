import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageFiles } from '../runtime.js';
import { LxdClient, type Instance, type ServerInfo } from './api.js';
import { NodeImages, type NodeImageOptions } from './node-images.js';
import { DEFAULT_PROJECT, PlaceBook, placeKey, type LxdPlace } from './places.js';
import { resolveRemote, type LxdRemote } from './remotes.js';

/** One place's client (its project on every call), its image store, and its server's name. */
export interface Site {
  place: LxdPlace;
  remote: LxdRemote;
  project: string;
  client: LxdClient;
  images: NodeImages;
  /** The member an instance is on: LXD's location, or the server's own name outside a cluster (LXD says "none"). */
  memberOf(instance: Instance): Promise<string>;
  /** The cluster's members that are not online now, with their status (offline, evacuated...); none outside a cluster. */
  lostMembers(): Promise<Map<string, string>>;
  /** The cluster's members by name, whatever their status; undefined outside a cluster. */
  members(): Promise<string[] | undefined>;
}

export interface SiteOptions extends NodeImageOptions {
  socket: string; // this host's daemon (the `local` remote)
  lxcConf: string; // the lxc client's config: its remotes and certificates
}

/**
 * The LXD places rig's nodes are in, each reached once per process: this host's daemon by default, and those a rig
 * file named (recorded in the place book, so commands with no rig file find them too).
 */
export class LxdSites {
  private readonly sites = new Map<string, Site>();
  private readonly chosen = new Map<string, LxdPlace>(); // by rig: the place its rig file gives (up, reconcile)
  readonly book: PlaceBook;

  constructor(
    private readonly files: ImageFiles,
    private readonly options: SiteOptions,
  ) {
    this.book = new PlaceBook(join(options.cacheDir, 'lxd-places'));
  }

  /** The rig file's place for this rig, from now on in this process (before its first node is made). */
  choose(rig: string, place: LxdPlace): void {
    this.chosen.set(rig, place);
  }

  /** Record where the rig's nodes are, and this one, before it is made. */
  record(rig: string, instance: string, fqdn: string): void {
    this.book.record(rig, this.placeOf(rig), { instance, fqdn });
  }

  placeOf(rig: string): LxdPlace {
    const { remote, project, lxcConf } = this.chosen.get(rig) ?? this.book.get(rig) ?? {};
    return { ...(remote && { remote }), ...(project && { project }), ...(lxcConf && { lxcConf }) };
  }

  /** The rig's node an instance LXD lists without its config (its member offline) is, by this host's record. */
  recordedNode(rig: string | undefined, instance: string): { rig: string; fqdn: string } | undefined {
    const records = rig === undefined ? this.book.all() : [{ rig, place: this.book.get(rig) }];
    for (const r of records) {
      const fqdn = r.place?.nodes?.[instance];
      if (fqdn) return { rig: r.rig, fqdn };
    }
    return undefined;
  }

  /** The rig's place, kept for the rest of this process once asked (down forgets the record before the network goes). */
  of(rig: string): Site {
    const place = this.placeOf(rig);
    if (!this.chosen.has(rig)) this.chosen.set(rig, place);
    return this.at(place);
  }

  /** Whether this process may meet a rig on LXD elsewhere than this host's daemon: a remote chosen or recorded. */
  anyRemote(): boolean {
    return [...this.chosen.values(), ...this.book.all().map((r) => r.place)].some((p) => p.remote !== undefined);
  }

  /** Whether a place's members are this host's daemon: its firewall and files are this host's. */
  isLocal(site: Site): boolean {
    return 'socket' in site.remote.endpoint;
  }

  /** Every place with rig's nodes that this host knows of: this host's daemon (if it runs one) and those recorded. */
  known(): Site[] {
    const places = [...(existsSync(this.options.socket) ? [{}] : []), ...this.book.all().map((r) => r.place)];
    const byKey = new Map(places.map((p) => [placeKey(p), p]));
    return [...byKey.values()].flatMap((p) => {
      try {
        return [this.at(p)];
      } catch {
        return []; // a recorded remote lxc no longer has: its rig's own commands (of(rig)) say so
      }
    });
  }

  /** Whether a place is this host's daemon and it is not there (a Docker-only host): it has no nodes, no images. */
  absent(site: Site): boolean {
    return 'socket' in site.remote.endpoint && !existsSync(site.remote.endpoint.socket);
  }

  at(place: LxdPlace): Site {
    const key = placeKey(place);
    let site = this.sites.get(key);
    if (!site) {
      const { socket, lxcConf } = this.options;
      const remote = resolveRemote(place.remote, { socket, lxcConf: place.lxcConf ?? lxcConf, at: `lxd.remote ${place.remote}` });
      const project = place.project ?? remote.project ?? DEFAULT_PROJECT;
      const client = LxdClient.connect(remote.endpoint, project === DEFAULT_PROJECT ? undefined : project);
      const server = LxdClient.connect(remote.endpoint); // cluster-wide calls: no project
      let about: Promise<ServerInfo> | undefined;
      const info = () => (about ??= server.server());
      site = {
        place,
        remote,
        project,
        client,
        images: new NodeImages(client, this.files, this.options),
        memberOf: async (instance) =>
          instance.location && instance.location !== 'none' ? instance.location : (await info()).environment.server_name,
        members: async () => ((await info()).environment.server_clustered ? (await server.members()).map((m) => m.server_name) : undefined),
        lostMembers: async () => {
          if (!(await info()).environment.server_clustered) return new Map();
          const members = await server.members();
          return new Map(members.filter((m) => m.status !== 'Online').map((m) => [m.server_name, m.status.toLowerCase()]));
        },
      };
      this.sites.set(key, site);
    }
    return site;
  }
}
