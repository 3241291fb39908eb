import { Label } from '../labels.js';
import { listNodes } from './nodes.js';
import { FactStore, seenStage, type FactAccess } from '../facts/store.js';
import type { NodeInstance } from '../runtime/backend.js';
import type { BackendKind } from '../runtime/kinds.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { keeperAlive } from './keeper.js';
import { ETCD_SOCKET, etcdUrl } from '../plan/sidecar.js';
import type { Engine } from './context.js';
import { shortName, type RigAddresses } from '../plan/plan.js';
import { nodeWiring } from '../runtime/veth.js';
import { declarationOf } from '../runtime/kinds.js';
import { errorMessage, ExitCode, RigError } from '../errors.js';

/** A node as every command's JSON shows it (and the API): `fqdn` its full name, `name` its short one. */
export interface NodeStatus {
  fqdn: string;
  name: string;
  ip: string; // as it published it: empty until it has one
  mirrors?: string; // the live node it mirrors, when it mirrors one
  stage: string; // the stage the node published, or its container state when it has none
  backend: BackendKind;
  member?: string; // the cluster member (LXD server) it runs on: an LXD node's
}

export interface RigStatus {
  name: string;
  subnet: string;
  dns: string; // the rig's DNS server: dig @<dns> <node> from the host
  etcd: string;
  file?: string;
  sidecar: string; // its container's state (running, exited, paused...), or missing
  keeper: boolean; // whether its keeper runs (a node or the sidecar that restarts is wired again only then)
  created?: string; // when its network was made
  nodes: NodeStatus[];
}

/** The rigs that are up (or one of them), each node with the address and stage it published itself. */
export async function rigStatus(engine: Engine, only?: string): Promise<RigStatus[]> {
  const networks = (await engine.rigs.networks(only)).sort((a, b) => a.labels[Label.rig].localeCompare(b.labels[Label.rig]));
  return Promise.all(
    networks.map(async (net) => {
      const rig = net.labels[Label.rig];
      const nodes = await listNodes(engine, rig);
      const sidecar = (await engine.rigs.containers(rig)).find((c) => c.role === 'sidecar');
      let sidecarState = sidecar?.state ?? 'missing';
      // Without its sidecar a rig's stages and addresses cannot be known: they are shown as unknown, not as created.
      // One rig whose etcd does not answer (being taken down, paused) does not stop the others being shown.
      const state =
        sidecarState === 'running'
          ? await withFacts(hostAccess(net, sidecar!.labels, rig), (f) => f.rigState(rig)).catch(() => {
              sidecarState = 'running, but its etcd does not answer';
              return undefined;
            })
          : undefined;
      return {
        name: rig,
        subnet: net.addresses.subnet,
        dns: net.addresses.dnsmasq,
        etcd: etcdUrl(net),
        file: net.labels[Label.rigFile],
        sidecar: sidecarState,
        keeper: !!sidecar && keeperAlive(sidecar.labels),
        created: net.created,
        nodes: nodes
          .sort((a, b) => a.node.localeCompare(b.node))
          .map((n: NodeInstance) => ({
            fqdn: n.node,
            name: shortName(n.node),
            ip: state?.get(n.node)?.facts.ipaddress ?? '',
            ...(n.mirrors && { mirrors: n.mirrors }),
            stage: n.lost
              ? `lost: ${n.lost}`
              : n.paused
                ? 'paused'
                : !n.running
                  ? 'stopped'
                  : declarationOf(n.backend).wiredByHost && !wired(rig, n.node) // another backend wires its own (on its member)
                    ? UNWIRED
                    : state
                      ? (seenStage(state.get(n.node) ?? { facts: {} }) ?? 'created')
                      : 'unknown',
            backend: n.backend,
            ...(n.member && { member: n.member }),
          })),
      };
    }),
  );
}

/** A running node with no veth on the rig bridge: it restarted while no keeper ran, and has no network. */
export const UNWIRED = 'unwired: no link to the rig bridge';
export const wired = (rig: string, node: string) => existsSync(`/sys/class/net/${nodeWiring(rig, node).hostInterface}`);

/**
 * How the host reaches a rig's etcd: as root (the password is on the sidecar's label), through the Unix socket etcd
 * serves in the sidecar's state directory, never over the rig bridge, where a node could pose as the sidecar.
 */
export const hostAccess = (network: { addresses: RigAddresses }, sidecarLabels: Record<string, string>, rig: string) => ({
  url: etcdUrl(network),
  rootPassword: sidecarLabels[Label.etcdRoot],
  socket: join(sidecarLabels[Label.state] ?? '', 'etcd', ETCD_SOCKET),
  rig,
});

/** How the host reaches a rig's etcd, once its sidecar is known to run (hostAccess). */
export async function factAccess(engine: Engine, rig: string): Promise<FactAccess & { rig: string }> {
  const [[network], containers] = await Promise.all([engine.rigs.networks(rig), engine.rigs.containers(rig)]);
  if (!network) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig status', ExitCode.badInput);
  const sidecar = containers.find((c) => c.role === 'sidecar');
  if (sidecar?.state !== 'running') throw sidecarDown(rig, sidecar?.state ?? 'missing');
  return hostAccess(network, sidecar.labels, rig);
}

export function sidecarDown(rig: string, state: string): RigError {
  return new RigError(
    `The sidecar of rig ${rig} (its dnsmasq and etcd) ${state.startsWith('running') ? `is ${state}` : `is not running (${state})`}: its facts, stages and leases cannot be read.`,
    `take the rig down and up again: rig down --name ${rig}, then rig up RIGFILE`,
    ExitCode.failed,
  );
}

/** Work with a rig's etcd; an etcd that does not answer is the user's problem to see, in one sentence. */
export async function withFacts<T>(access: FactAccess & { rig: string }, fn: (facts: FactStore) => Promise<T>): Promise<T> {
  const facts = await FactStore.connect(access);
  try {
    return await fn(facts);
  } catch (err) {
    if (err instanceof RigError) throw err;
    throw new RigError(
      `The etcd of rig ${access.rig} at ${access.url} did not answer: ${errorMessage(err).split('\n')[0]}.`,
      `check its sidecar with: docker ps -a --filter label=${Label.rig}=${access.rig}`,
      ExitCode.failed,
    );
  } finally {
    facts.close();
  }
}
