import { createHash } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { RigError, ExitCode } from '../errors.js';
import { containerName, networkName, SIDECAR } from '../labels.js';
import { declarationOf } from '../runtime/kinds.js';
import type { Segment } from '../runtime/kind.js';
import type { BackendKind, ConfigTree, InitKind, NodeSpec, ProvisionStep, RigSpec, UpdateStep } from '../rigfile/types.js';
import { DHCP_POOL_OFFSET, formatIp, parseCidr, parseIp, size, SMALLEST_RIG_SUBNET } from '../ipv4.js';

/** Where every node sees the rig file's directory (read-only): scripts, manifests, the mirrored hiera data. */
export const REPO_MOUNT = '/.rig-repo';

/** A symlink `up` makes: `path` -> `target` (relative), standing for the live node's config at `live`. */
export interface PlannedLink {
  node: string;
  mirrors: string;
  path: string;
  target: string;
  live: string;
}

export interface PlannedNode {
  spec: NodeSpec;
  container: string;
  mac: string; // stable per rig and node, so a node keeps its lease identity (dnsmasq reserves its address by it)
}

export interface Plan {
  spec: RigSpec;
  name: string;
  network: string;
  segment: Segment; // where its L2 segment and sidecar are: Docker's bridge and container, or LXD's (segmentOf)
  sidecar: { container: string; mac: string }; // dnsmasq and etcd, wired like a node
  links: PlannedLink[];
  nodes: PlannedNode[];
}

/** Rig file -> everything `up` will make, with its names. Pure: no I/O. */
export function planRig(spec: RigSpec): Plan {
  const segment = segmentOf(spec);
  return {
    spec,
    name: spec.name,
    network: segment === 'lxd' ? lxdNetworkName(spec.name) : networkName(spec.name),
    segment,
    sidecar: { container: sidecarName(spec.name, segment), mac: nodeMac(spec.name, SIDECAR_NODE) },
    links: spec.nodes.flatMap((n) => (n.mirrors ? linksOf(spec, n.name, n.mirrors) : [])),
    nodes: spec.nodes.map((node) => ({
      spec: node,
      container: nodeName(spec.name, node),
      mac: nodeMac(spec.name, node.name),
    })),
  };
}

/** A rig's segment: LXD's when every node's backend is on one (it then needs no Docker to run), else Docker's. */
export const segmentOf = (spec: RigSpec): Segment =>
  spec.nodes.length > 0 && spec.nodes.every((n) => declarationOf(n.backend).segment === 'lxd') ? 'lxd' : 'docker';

/** An LXD rig bridge's name: LXD allows 15 characters, so `rl` and a digest of the rig's name (one per rig name). */
// 12 characters: LXD names a VXLAN tunnel's interface <network>-<tunnel> (tunnel `v`), 15 at most
export const lxdNetworkName = (rig: string) => `rl${createHash('sha256').update(rig).digest('hex').slice(0, 10)}`;

/** The sidecar's name: a Docker container's `rig-<rig>.sidecar`, or an LXD instance's (no dot: undottedName). */
export const sidecarName = (rig: string, segment: Segment) =>
  segment === 'lxd' ? undottedName(rig, SIDECAR_NODE, SIDECAR) : containerName(rig, SIDECAR);

/** A stable hash of settings: what `up` of an edited rig file compares with what runs. Key order does not count. */
export function settingsHash(value: unknown): string {
  const stable = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(stable)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, stable((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(stable(value)))
    .digest('hex')
    .slice(0, 16);
}

/** A node's settings as they shape its container (its line in the file does not). */
export const nodeSettingsHash = ({ line: _line, targetLine: _targetLine, ...spec }: NodeSpec) => settingsHash(spec);

/**
 * The rig-wide settings that shape the network and the sidecar: a change there means a new rig. Kept as JSON on
 * the rig's network (io.rig.settings) beside their hash, so that `up` can say which of them changed.
 */
export const rigSettings = (spec: Pick<RigSpec, 'domain' | 'network' | 'configs' | 'factsFrom'>): RigSettings => ({
  domain: spec.domain,
  network: spec.network,
  configs: spec.configs,
  factsFrom: spec.factsFrom,
});

export type RigSettings = Pick<RigSpec, 'domain' | 'network' | 'configs' | 'factsFrom'>;

export const rigSettingsHash = (spec: RigSpec) => settingsHash(rigSettings(spec));

/** Whether `name`, as a user types it on the command line (FQDN or short name), names the node `fqdn`. */
export const shortName = (fqdn: string) => fqdn.split('.')[0];
export const namesNode = (name: string, fqdn: string) => fqdn === name || shortName(fqdn) === name;

/** A digest of the rig and node names: what a node's MAC, and the names of its wiring, are derived from (so `down` finds them too). */
export const nodeDigest = (rig: string, node: string) => createHash('sha256').update(`${rig}/${node}`).digest('hex');

/** A node's name in its backend, as its kind declares (runtime/kind.ts: nodeNames). */
export const nodeName = (rig: string, node: NodeSpec) =>
  declarationOf(node.backend).nodeNames === 'rig-<rig>.<node>'
    ? containerName(rig, node.shortName)
    : undottedName(rig, node.name, node.shortName);

/**
 * A node's name where a dot is not allowed (LXD's instances). A rig's LXC nodes are `rig-<rig>.<node>`: the two never
 * meet (LXD's and LXC's containers share the host's cgroup names). The digest of rig and node keeps names of two rigs
 * apart however their names split (rig a-b's node c, rig a's node b-c); the readable part is cut to fit 63 characters.
 */
export function undottedName(rig: string, node: string, shortName: string): string {
  const digest = nodeDigest(rig, node).slice(0, 8);
  const readable = `rig-${rig}-${shortName}`.slice(0, 63 - digest.length - 1).replace(/-+$/, '');
  return `${readable}-${digest}`;
}

/** A node's MAC (the sidecar's: under the name `.sidecar`, which no node can have). */
export const nodeMac = (rig: string, node: string) => `02:${nodeDigest(rig, node).slice(12, 22).match(/../g)!.join(':')}`;

/** The name the sidecar goes by where it is wired like a node (nodeMac, nodeWiring): one no node can have (node names start with a letter or digit). */
export const SIDECAR_NODE = `.${SIDECAR}`;

/** The links of node `node` mirroring `mirrors`: one per config tree. */
export const linksOf = (spec: RigSpec, node: string, mirrors: string): PlannedLink[] =>
  spec.configs.map((tree) => planLink(tree.dir, tree.file, node, mirrors));

/**
 * The link for one node: at the first path part of the file template that holds {node}, so that a per-node
 * directory (`{node}/main.yml`, as Ansible's host_vars/<host>/) is linked whole, and a per-node file by itself.
 */
function planLink(dir: string, file: string, node: string, mirrors: string): PlannedLink {
  const parts = file.split('/');
  const linked = parts.slice(0, parts.findIndex((part) => part.includes('{node}')) + 1).join('/');
  const path = join(dir, linked.replaceAll('{node}', node));
  const live = join(dir, file.replaceAll('{node}', mirrors));
  return { node, mirrors, path, live, target: relative(dirname(path), join(dir, linked.replaceAll('{node}', mirrors))) };
}

/** Fixed places in a rig subnet: the bridge, dnsmasq and etcd (both on the sidecar), Docker's own small range, and the DHCP pool after it. */
export interface RigAddresses {
  subnet: string;
  gateway: string;
  dnsmasq: string;
  etcd: string;
  dockerRange: string; // all Docker's IPAM may hand out (rig attaches nothing through Docker), clear of the DHCP pool
  dhcpFirst: string;
  dhcpLast: string;
  netmask: string;
}

/** The address reserved for the node at `index` of the plan: the DHCP pool's, in node order. */
export const nodeAddress = (a: RigAddresses, index: number) => formatIp(parseIp(a.dhcpFirst) + index);

export function rigAddresses(subnet: string): RigAddresses {
  const c = parseCidr(subnet);
  if (c.prefix > SMALLEST_RIG_SUBNET) {
    throw new RigError(
      `subnet ${subnet} is too small for a rig`,
      `use a /${SMALLEST_RIG_SUBNET} or larger (a /24 is the default)`,
      ExitCode.badInput,
    );
  }
  return {
    subnet,
    gateway: formatIp(c.base + 1),
    dnsmasq: formatIp(c.base + 2),
    etcd: formatIp(c.base + 3),
    dockerRange: `${formatIp(c.base)}/28`,
    dhcpFirst: formatIp(c.base + DHCP_POOL_OFFSET),
    dhcpLast: formatIp(c.base + size(c) - 2),
    netmask: formatIp((0xffffffff << (32 - c.prefix)) >>> 0),
  };
}

/** One node as `up --dry-run` shows it: its settings once, and what up derives from them (container, address). */
export interface NodeSummary {
  fqdn: string;
  name: string; // its short name
  container: string;
  line: number;
  mirrors?: string;
  backend: BackendKind;
  member?: string; // an LXD node's cluster member, as up would place it (dry run; set by the caller, who asks LXD)
  image: string; // a build's: "built from" its Dockerfile (its tag is the engine's to work out)
  build?: { context: string; dockerfile: string; args: Record<string, string> };
  init: InitKind;
  ip: string; // reserved for it; ".N" in the /24 that up picks from the pool when the rig file names no subnet
  needs: Array<{ fqdn: string; fact?: string }>;
  roles: string[];
  facts: Record<string, string>;
  provision: ProvisionStep[];
  validate: string[];
  update: UpdateStep[];
}

/** What `up` of a plan would make, each thing once (`up --dry-run --json`); nodes in start order. */
export interface PlanSummary {
  name: string;
  file: string;
  domain: string;
  network: { name: string; subnet?: string; pool: string; internal: boolean; forward: string[] };
  sidecar: { container: string; dns: string; etcd: string };
  configs: ConfigTree[];
  factsFrom?: RigSpec['factsFrom'];
  links: Array<{ fqdn: string; path: string; target: string }>;
  nodes: NodeSummary[];
  warnings: string[];
}

/**
 * Nodes in the order they can get ready: each after what it needs (file order otherwise). Needs on nodes not in
 * `nodes` (a reconcile's nodes that stay) count as met.
 */
export function startOrder<T extends { spec: NodeSpec }>(nodes: T[]): T[] {
  const byName = new Map(nodes.map((n) => [n.spec.name, n]));
  const placed = new Set<string>();
  const order: T[] = [];
  const place = (node: T, visiting: Set<string>) => {
    if (placed.has(node.spec.name) || visiting.has(node.spec.name)) return; // a cycle is the rig file's error, reported at load
    visiting.add(node.spec.name);
    for (const need of node.spec.needs) {
      const needed = byName.get(need.node);
      if (needed) place(needed, visiting);
    }
    placed.add(node.spec.name);
    order.push(node);
  };
  nodes.forEach((node) => place(node, new Set()));
  return order;
}

export function summarizeNode(node: PlannedNode, address: string): NodeSummary {
  const { spec } = node;
  return {
    fqdn: spec.name,
    name: shortName(spec.name),
    container: node.container,
    line: spec.line,
    mirrors: spec.mirrors,
    backend: spec.backend,
    image: spec.build
      ? `built from ${join(spec.build.context, spec.build.dockerfile)}`
      : (spec.image ?? (spec.init === 'systemd' ? 'rig:systemd' : 'rig:base')),
    ...(spec.build && { build: { context: spec.build.context, dockerfile: spec.build.dockerfile, args: spec.build.args } }),
    init: spec.init,
    ip: address,
    needs: spec.needs.map(({ node, fact }) => ({ fqdn: node, ...(fact && { fact }) })),
    roles: spec.roles,
    facts: spec.facts,
    provision: spec.provision,
    validate: spec.validate,
    update: spec.update,
  };
}

/** Everything `up` of the plan would make: the network, the sidecar, the links and the nodes, in start order. Pure. */
export function summarizePlan(plan: Plan): PlanSummary {
  const { spec } = plan;
  const a = spec.network.subnet ? rigAddresses(spec.network.subnet) : undefined;
  // Without a subnet, up picks a free /24 of the pool: the places in it are known, the subnet is not.
  const addressOf = new Map(plan.nodes.map((n, i) => [n.spec.name, a ? nodeAddress(a, i) : `.${DHCP_POOL_OFFSET + i}`]));
  return {
    name: plan.name,
    file: spec.file,
    domain: spec.domain,
    network: { name: plan.network, ...spec.network },
    sidecar: { container: plan.sidecar.container, dns: a?.dnsmasq ?? '.2', etcd: a?.etcd ?? '.3' },
    configs: spec.configs,
    factsFrom: spec.factsFrom,
    links: plan.links.map(({ node, path, target }) => ({ fqdn: node, path, target })),
    nodes: startOrder(plan.nodes).map((n) => summarizeNode(n, addressOf.get(n.spec.name)!)),
    warnings: spec.warnings,
  };
}
