import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, RigError } from '../../errors.js';
import type { Plan } from '../../plan/plan.js';
import { LxdClient, type ServerInfo } from './api.js';
import { placeNodes } from './placement.js';
import type { LxdRemote } from './remotes.js';
import { isNotFound } from './transport.js';

/**
 * Where a rig's LXD nodes are: a remote (by the lxc client's name for it; none: this host's daemon) and a project.
 * `up` checks it before anything is made, and records it on this host (rig's cache, lxd-places/<rig>.json) before
 * its first node, so that `down`, `status`, the reaper and `gc`, which have no rig file, find the nodes again; `down`
 * forgets it once they are gone.
 */
export interface LxdPlace {
  remote?: string;
  project?: string; // as the rig file said; undefined: the remote's own, else LXD's default
  lxcConf?: string; // the lxc config the remote was read from, when there is one
}

export const DEFAULT_PROJECT = 'default';

export const placeKey = (p: LxdPlace) => `${p.remote ?? 'local'}/${p.project ?? ''}`;

/**
 * What this host records of a rig on LXD: its place, and its nodes (instance -> node) as they are made. The marks on
 * an instance say whose node it is, but LXD cannot read an instance's config while its member is offline: the
 * record names those nodes then (as lost), so `status` and `down` can say which of the rig's nodes they are.
 */
export interface PlaceRecord extends LxdPlace {
  nodes?: Record<string, string>;
}

export class PlaceBook {
  constructor(private readonly dir: string) {}

  get(rig: string): PlaceRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file(rig), 'utf8')) as PlaceRecord;
    } catch {
      return undefined; // none recorded (a rig on this host's daemon made before places were): the default place
    }
  }

  all(): Array<{ rig: string; place: PlaceRecord }> {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((f) => f.endsWith('.json'));
    } catch {
      return []; // no place recorded yet
    }
    return names.flatMap((f) => {
      const rig = f.slice(0, -'.json'.length);
      const place = this.get(rig);
      return place ? [{ rig, place }] : [];
    });
  }

  /** The rig's place, and a node of it about to be made there (a rig moved to another place starts a new record). */
  record(rig: string, place: LxdPlace, node?: { instance: string; fqdn: string }): void {
    const before = this.get(rig);
    const nodes = before && placeKey(before) === placeKey(place) ? (before.nodes ?? {}) : {};
    if (node) nodes[node.instance] = node.fqdn;
    this.write(rig, { ...place, nodes });
  }

  /** A node removed: it is no longer the rig's to look for. */
  drop(rig: string, instance: string): void {
    const before = this.get(rig);
    if (!before?.nodes?.[instance]) return;
    delete before.nodes[instance];
    this.write(rig, before);
  }

  forget(rig: string): void {
    rmSync(this.file(rig), { force: true });
  }

  // Synchronous: the nodes of one up record themselves one at a time, never a read and a write apart.
  private write(rig: string, record: PlaceRecord): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.file(rig), JSON.stringify(record));
  }

  private file(rig: string): string {
    return join(this.dir, `${rig}.json`);
  }
}

/** Where the rig file says what is checked: file:line of each key (lxd.remote, lxd.project, each node's target). */
export interface PlaceLines {
  file: string;
  lxd?: number;
  remote?: number;
  project?: number;
}

/**
 * Before anything is made: the remote answers and trusts rig's client, the project is there with a root disk in its
 * default profile, and every target: is an online member of a cluster. Resolves to the member of each LXD node of
 * the plan (placement.ts); empty for a daemon that is not clustered (its one server takes every node).
 */
export async function checkPlace(remote: LxdRemote, project: string, plan: Plan, lines: PlaceLines): Promise<Map<string, string>> {
  const at = (line: number | undefined, key: string) => `${lines.file}:${line ?? lines.lxd ?? 1}: ${key}`;
  const server = LxdClient.connect(remote.endpoint);
  const named = remote.name === 'local' ? remote.where : `${remote.where} (remote ${remote.name})`;
  let info: ServerInfo;
  try {
    info = await server.server(10_000);
  } catch (err) {
    throw new RigError(
      `${at(lines.remote, 'lxd.remote')}: no LXD answers at ${named}: ${lxdSays(err)}.`,
      `check that it runs and is reachable from here (lxc info ${remote.name}: asks the same), or name another remote`,
      ExitCode.badInput,
      { cause: err },
    );
  }
  if (info.auth !== 'trusted') {
    throw new RigError(
      `${at(lines.remote, 'lxd.remote')}: the LXD at ${named} does not trust the lxc client's certificate rig uses.`,
      `trust it: lxc config trust add on the cluster, then lxc remote add ${remote.name} ${remote.where} with the token`,
      ExitCode.badInput,
    );
  }
  const projectAt = lines.project === undefined ? at(lines.remote, 'lxd.remote') : at(lines.project, 'lxd.project');
  const client = await checkProject(remote, project, named, projectAt, lines.project === undefined);
  const nodes = plan.nodes
    .filter((n) => n.spec.backend === 'lxd')
    .map((n) => ({ name: n.spec.name, target: n.spec.target, at: at(n.spec.targetLine, 'lxd.target') }));
  const pinned = nodes.filter((n) => n.target !== undefined);
  if (!info.environment.server_clustered) {
    if (!pinned.length) return new Map();
    const [first] = pinned;
    throw new RigError(
      `${first.at}: the LXD at ${named} is not a cluster, so it has no member ${first.target} to put ${first.name} on.`,
      `remove target: (its one server takes every node), or name a remote that is a cluster (lxd.remote)`,
      ExitCode.badInput,
    );
  }
  const members = await server.members();
  const online = members.filter((m) => m.status === 'Online').map((m) => m.server_name);
  for (const node of pinned) {
    const member = members.find((m) => m.server_name === node.target);
    if (member?.status === 'Online') continue;
    throw new RigError(
      member
        ? `${node.at}: ${node.target}, the member ${node.name} is to go on, is ${member.status.toLowerCase()} (${member.message || 'LXD says no more'}).`
        : `${node.at}: ${node.target} is not a member of the cluster at ${named} (its members: ${members.map((m) => m.server_name).join(', ')}).`,
      online.length
        ? `name one of its online members (${online.join(', ')}), or remove target: to let rig place the node`
        : 'bring a member back',
      ExitCode.badInput,
    );
  }
  if (!online.length) {
    throw new RigError(
      `${at(lines.remote, 'lxd.remote')}: no member of the cluster at ${named} is online.`,
      'bring a member back',
      ExitCode.badInput,
    );
  }
  const load = new Map<string, number>();
  for (const i of await client.rigInstances()) load.set(i.location, (load.get(i.location) ?? 0) + 1);
  const loads = members.map((m) => ({ name: m.server_name, online: m.status === 'Online', rigInstances: load.get(m.server_name) ?? 0 }));
  return placeNodes(plan.name, nodes, loads);
}

/** The project is there, and its default profile gives a root disk (a new project's has none): its client. */
async function checkProject(remote: LxdRemote, project: string, named: string, at: string, fromConfig: boolean): Promise<LxdClient> {
  const server = LxdClient.connect(remote.endpoint);
  const make = `lxc project create ${remote.name}:${project}`;
  const rootDisk = `lxc profile device add ${remote.name}:default root disk path=/ pool=POOL --project ${project}`;
  try {
    await server.transport.json('GET', `/1.0/projects/${encodeURIComponent(project)}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const projects = (await server.transport.json<string[]>('GET', '/1.0/projects')).metadata.map((p) => p.split('/').pop()!);
    const whose = fromConfig ? `, the remote's project in lxc's config,` : '';
    throw new RigError(
      `${at}: the LXD at ${named} has no project ${project}${whose} (it has ${projects.sort().join(', ')}).`,
      `name one of those, or make it: ${make}, then give it a root disk: ${rootDisk}`,
      ExitCode.badInput,
      { cause: err },
    );
  }
  const client = LxdClient.connect(remote.endpoint, project);
  const profile = await client.transport.json<{ devices?: Record<string, Record<string, string>> }>('GET', '/1.0/profiles/default');
  if (!Object.values(profile.metadata.devices ?? {}).some((d) => d.type === 'disk' && d.path === '/')) {
    throw new RigError(
      `${at}: the default profile of project ${project} at ${named} has no root disk, and rig's nodes take their root from it.`,
      `give it one: ${rootDisk}`,
      ExitCode.badInput,
    );
  }
  return client;
}

/** What LXD said, without the request it answered. */
export const lxdSays = (err: unknown) =>
  err instanceof Error && 'lxdMessage' in err ? String(err.lxdMessage) : err instanceof Error ? err.message : String(err);
