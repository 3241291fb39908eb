import { errorMessage, RigError } from '../errors.js';
import { Label } from '../labels.js';
import { ownerAlive } from './owner.js';
import { listNodes } from './nodes.js';
import type { Engine } from './context.js';
import { linksInUse, listedLinks, removeLinks } from './links.js';
import { nodeWiring, sidecarWiring } from '../runtime/veth.js';
import { declarationOf } from '../runtime/kinds.js';

export interface DownResult {
  rig: string;
  containers: number;
  links: string[];
  detached: string[]; // containers that were not rig's, attached to its network: disconnected and left running
}

/** Every rig that has anything left: a network or a container carrying the rig label, or a node of any backend. */
export async function rigNames(engine: Engine): Promise<string[]> {
  const [networks, containers, nodes] = await Promise.all([engine.rigs.networks(), engine.rigs.containers(), listNodes(engine)]);
  const names = [...networks.map((n) => n.labels[Label.rig]), ...containers.map((c) => c.labels[Label.rig]), ...nodes.map((n) => n.rig)];
  return [...new Set(names)].sort();
}

/** Whether anything of one rig is left (rigNames, for that rig alone). */
export async function rigExists(engine: Engine, rig: string): Promise<boolean> {
  const [networks, containers, nodes] = await Promise.all([engine.rigs.networks(rig), engine.rigs.containers(rig), listNodes(engine, rig)]);
  return networks.length + containers.length + nodes.length > 0;
}

/**
 * Remove everything of one rig, found by its labels alone (no rig file needed, and after an `up` that died
 * halfway): nodes and the sidecar at once (the leases and etcd keys live in the sidecar and go with it, so a
 * rebuilt rig starts from none; the engine takes the removes in turn, see runtime/pacing.ts), then the network,
 * its firewall rule and the symlinks this rig made. A part that fails (an engine that does not answer) does not
 * stop the others: all that can go goes, then the first failure is thrown, and `rig down` again finishes the job.
 */
export async function destroyRig(engine: Engine, rig: string): Promise<DownResult> {
  const { rigs, wiring } = engine;
  const backends = Object.values(engine.backends);
  const failures: unknown[] = [];
  const attempt = <T>(work: Promise<T>, otherwise: T): Promise<T> => work.catch((err: unknown) => (failures.push(err), otherwise));
  const [before, nodes] = await Promise.all([
    attempt(rigs.containers(rig), []),
    Promise.all(backends.map((b) => attempt(b.list(rig), []))),
  ]);
  const sidecars = before.filter((c) => c.role !== 'node');
  await Promise.all([
    ...backends.map((b) => attempt(b.removeAll(rig), undefined)),
    ...sidecars.map((c) => attempt(rigs.removeContainer(c.id), undefined)),
  ]);
  sidecars.forEach((c) => engine.sidecars.removeState(c.labels));
  // A veth goes with its container's namespace once it is wired; one this host made but not yet moved (up stopped
  // while the node waited for the sidecar) is still on the host. A backend that wires its own nodes removes theirs.
  const wiredHere = nodes.flat().filter((n) => declarationOf(n.backend).wiredByHost);
  const veths = [...wiredHere.map((n) => nodeWiring(rig, n.node).hostInterface), sidecarWiring(rig).hostInterface];
  // Links only once the networks that list them are known: a link another rig may use is never guessed away.
  // Other rigs are asked only if this one has links (a rig on LXD with none asks Docker nothing).
  const networks = await attempt(rigs.networks(rig), []);
  const mine = listedLinks(networks, nodes.flat());
  const usedByOthers = mine.length ? await attempt(linksInUse(engine, rig), undefined) : new Set<string>();
  const used = usedByOthers ? mine : [];
  const detached: string[] = [];
  for (const network of networks) detached.push(...(await attempt(engine.network.removeNetwork(network.id), [])));
  const links = usedByOthers ? removeLinks(used, usedByOthers) : [];
  await attempt(wiring.removeWiring(rig, veths), undefined);
  if (failures.length) throw failures.find((err) => err instanceof RigError) ?? failures[0];
  return { rig, containers: sidecars.length + nodes.flat().length, links, detached };
}

/**
 * The reaper's work, once the process that brought a rig up died before it was done: the whole rig if that process
 * owned the rig's name (`claimed`), else only the network it made (another up owns the name, and the rig is its).
 */
export async function reap(engine: Engine, rig: string, made: { claimed: boolean; network?: string }): Promise<void> {
  if (made.claimed) await destroyRig(engine, rig);
  else if (made.network) await engine.network.removeOwnNetwork(made.network, rig);
}

/**
 * rig gc's decisions: remove each rig whose owner died before it was done with it (an `up` that never finished, a
 * `run` whose process is gone) and that is known not to be kept (an `up` that finished left it to its user). A rig
 * whose mark cannot be read may be kept: it is left, and said why.
 */
export async function removeAbandoned(
  engine: Engine,
  isKept: (rig: string) => Promise<boolean>,
): Promise<{ removed: string[]; left: Array<{ rig: string; why: string }> }> {
  const removed: string[] = [];
  const left: Array<{ rig: string; why: string }> = [];
  for (const network of await engine.rigs.networks()) {
    const rig = network.labels[Label.rig];
    if (ownerAlive(network.labels)) continue;
    try {
      if (await isKept(rig)) continue;
    } catch (err) {
      left.push({ rig, why: `cannot tell whether it is kept: ${errorMessage(err)}` });
      continue;
    }
    await destroyRig(engine, rig);
    removed.push(rig);
  }
  return { removed, left };
}
