import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import type { Plan } from '../../plan/plan.js';
import { assignAddresses, dnsmasqCommand, ETCD_SOCKET, etcdCommand, NODES_CONF, nodesConf } from '../../plan/sidecar.js';
import { removeSidecarState, reservedAddresses, SIDECAR_STATE_ROOT } from '../sidecar-state.js';
import { NameTaken, type SidecarEvents, type Sidecars } from '../runtime.js';
import { isConflict } from './connect.js';
import { makeVeth, moveIntoNode, removeVeth, sidecarWiring } from '../veth.js';
import { paced, scaledWaitMs } from '../pacing.js';
import { tail } from '../backend.js';
import { containerLog, LOG_CONFIG, streamContainerLog, waitForLog, watchLog } from './containers.js';
import { watchSidecars } from './events.js';
import type { RigNetwork } from '../runtime.js';

/**
 * Give the sidecar's dnsmasq a new config for the rig's `nodes` nodes (a reconcile): the file is replaced whole,
 * then rig-sidecar restarts dnsmasq on SIGHUP (leases are kept in their file). Resolves once the new dnsmasq serves.
 */
export async function reloadNodesConf(
  docker: Docker,
  sidecar: { id: string; labels: Record<string, string> },
  conf: string,
  nodes: number,
): Promise<void> {
  const path = join(sidecar.labels[Label.state], NODES_CONF);
  writeFileSync(`${path}.new`, conf);
  renameSync(`${path}.new`, path);
  await signalAndAwait(docker, sidecar.id, 'SIGHUP', DNSMASQ_SERVES, nodes);
}

/**
 * Let the rig's `nodes` nodes into the sidecar's etcd: rig-sidecar keeps them out (a firewall rule) from its start
 * until this, which comes once etcd's auth is on and rig has put what it knows before the nodes publish. Resolves
 * once it has.
 */
export async function letNodesIn(docker: Docker, id: string, nodes: number): Promise<void> {
  await signalAndAwait(docker, id, 'SIGUSR1', /rig-sidecar: etcd lets the nodes in/, nodes);
}

/** How long rig-sidecar may take to say it did what a signal asks, in a small rig (the engine relays its log). */
const SIGNAL_ANSWER_MS = 10_000;
/** How long etcd and dnsmasq may take to serve once the sidecar starts, in a small rig. */
const DAEMONS_SERVE_MS = 30_000;

/**
 * Signal rig-sidecar and wait for the line that says it has done what the signal asks (followed before it is sent).
 * The engine relays the signal and the line while it starts the rig's nodes: the wait grows with their number.
 */
async function signalAndAwait(docker: Docker, id: string, signal: string, done: RegExp, nodes: number): Promise<void> {
  const said = await watchLog(docker, id, [done], scaledWaitMs(SIGNAL_ANSWER_MS, nodes), { newOnly: true });
  await docker.getContainer(id).kill({ signal });
  await said();
}

/**
 * The sidecar's CPU weight (Docker's CpuShares, 1024 a container by default): as much as all of the rig's nodes
 * together, up to Docker's largest. It serves every node's lease, name and fact, and with a node's weight it had a
 * 201st of the CPU while a 200-node rig booted: dnsmasq answered leases seconds late, after the nodes gave up.
 */
export const sidecarCpuShares = (nodes: number) => Math.min(262_144, 1024 * Math.max(1, nodes));

/**
 * Create the rig's sidecar container (not started). Its name is the rig's: the engine lets only one container
 * have it, so whoever creates it owns the rig name (see engine/up.ts).
 */
export async function createSidecar(docker: Docker, plan: Plan, net: RigNetwork, image: string, etcdRootPassword: string): Promise<string> {
  const a = net.addresses;
  const prefix = a.subnet.split('/')[1];
  const state = join(SIDECAR_STATE_ROOT, `${plan.name}.${randomBytes(6).toString('hex')}`);
  for (const dir of ['etcd', 'misc']) mkdirSync(join(state, dir), { recursive: true, mode: 0o700 });
  writeFileSync(join(state, NODES_CONF), nodesConf(plan, assignAddresses(plan, a)));
  const create = () =>
    docker.createContainer({
      name: plan.sidecar.container,
      Image: image,
      Entrypoint: ['/usr/local/bin/rig-sidecar'],
      Cmd: [...dnsmasqCommand(plan, net), '--', ...etcdCommand(net)],
      Hostname: 'rig-sidecar',
      WorkingDir: '/var/lib/etcd', // etcd's Unix socket for the host is named relative to it (ETCD_SOCKET)
      Env: [
        `RIG_ADDRESSES=${a.dnsmasq}/${prefix} ${a.etcd}/${prefix}`,
        `RIG_ETCD_SOCKET=${ETCD_SOCKET}`,
        ...(net.internal ? [] : [`RIG_GATEWAY=${a.gateway}`]),
      ],
      // The root password of the rig's etcd, for later rig commands on the host; nodes cannot read labels.
      Labels: { [Label.rig]: plan.name, [Label.role]: 'sidecar', [Label.etcdRoot]: etcdRootPassword, [Label.state]: state },
      HostConfig: {
        NetworkMode: 'none',
        CapAdd: ['NET_ADMIN'], // eth0's addresses, and dnsmasq's DHCP replies to clients that have no address yet
        Mounts: [
          { Type: 'bind', Source: join(state, 'etcd'), Target: '/var/lib/etcd' },
          { Type: 'bind', Source: join(state, 'misc'), Target: '/var/lib/misc' }, // dnsmasq's leases
        ],
        Init: false,
        CpuShares: sidecarCpuShares(plan.nodes.length),
        LogConfig: LOG_CONFIG, // capped and rotated, as the nodes' logs are
      },
    });
  return paced(create, { first: true })
    .then((container) => container.id)
    .catch((err: Error) => {
      rmSync(state, { recursive: true, force: true });
      throw isConflict(err) ? new NameTaken(`the container name ${plan.sidecar.container} is taken`, { cause: err }) : err;
    });
}

/**
 * Start the rig's sidecar (made by createSidecar): dnsmasq and etcd (images/sidecar/rig-sidecar). Like a node it
 * has no Docker network: its veth goes on the rig bridge, with dnsmasq's and etcd's fixed addresses on it. Says
 * when the container runs, when its veth is in, when etcd serves the host on its Unix socket (which needs no
 * bridge) and when dnsmasq serves the bridge; resolves when all of that is done.
 */
export async function startSidecar(docker: Docker, plan: Plan, net: RigNetwork, id: string, events: SidecarEvents = {}): Promise<void> {
  const container = docker.getContainer(id);
  const first = { first: true }; // every node waits for the sidecar: its calls go ahead of theirs
  const waitMs = scaledWaitMs(DAEMONS_SERVE_MS, plan.nodes.length); // the engine starts them meanwhile
  const veth = makeVeth(net.bridge, sidecarWiring(plan.name).hostInterface, plan.sidecar.mac, first);
  veth.catch(() => {}); // awaited below
  try {
    const starting = paced(() => container.start(), first);
    events.started?.(); // the engine takes the nodes' starts while it starts this one: it serves them side by side
    await starting;
    const [{ State, Config }] = await Promise.all([container.inspect(), veth]);
    if (!State.Running) throw new Error(`stopped at once; its log ends:\n${tail(await containerLog(docker, container.id, 20))}`);
    const socket = join(Config.Labels[Label.state], 'etcd', ETCD_SOCKET);
    const etcdServes = waitForLog(docker, container.id, [ETCD_SERVES], waitMs).then(() => events.etcdServes?.(socket));
    etcdServes.catch(() => {}); // awaited below
    await moveIntoNode(State.Pid, sidecarWiring(plan.name).hostInterface, first);
    events.wired?.();
    const bridgeServes = waitForLog(docker, container.id, [DNSMASQ_SERVES, SIDECAR_WIRED], waitMs).then(() => events.bridgeServes?.());
    await Promise.all([bridgeServes, etcdServes]);
  } catch (err) {
    await veth.catch(() => {}); // made or not, it is gone after this: nothing rig makes is left half made
    await removeVeth(sidecarWiring(plan.name).hostInterface, first);
    throw new RigError(
      `The sidecar ${plan.sidecar.container} (dnsmasq and etcd) ${(err as Error).message}`,
      `see its whole log with: docker logs ${plan.sidecar.container} (run up with --keep-on-failure to keep it)`,
      undefined,
      { cause: err },
    );
  }
}

const ETCD_SERVES = /serving client traffic|ready to serve client requests/;

/** dnsmasq's line once it serves DHCP: its leases are static, one per planned MAC (see dnsmasqCommand). */
const DNSMASQ_SERVES = /DHCP, static leases only on/;

/** rig-sidecar's line once eth0 has the rig's addresses: the daemons, started before, can be reached from then on. */
const SIDECAR_WIRED = /rig-sidecar: eth0 has the rig's addresses/;

/**
 * Start a rig's sidecar again that stopped while its rig stayed (a Docker daemon restart stops every container,
 * `docker stop`): the rig's keeper, running by then, wires it as it wires any restart. Resolves once it has its
 * addresses and its daemons serve again.
 */
export async function startSidecarAgain(docker: Docker, id: string, timeoutMs: number): Promise<void> {
  const since = Math.floor(Date.now() / 1000);
  await docker.getContainer(id).start();
  await waitForLog(docker, id, [SIDECAR_WIRED, DNSMASQ_SERVES, ETCD_SERVES], timeoutMs, { since }).catch((err: Error) => {
    throw new RigError(
      `The sidecar ${id.slice(0, 12)} was started again, but ${err.message}`,
      `see its log with: docker logs ${id.slice(0, 12)}`,
    );
  });
}

export function dockerSidecars(docker: Docker, image: string): Sidecars {
  return {
    create: (plan, net, password) => createSidecar(docker, plan, net, image, password),
    start: (plan, net, id, events) => startSidecar(docker, plan, net, id, events),
    letNodesIn: (id, nodes) => letNodesIn(docker, id, nodes),
    reload: (sidecar, conf, nodes) => reloadNodesConf(docker, sidecar, conf, nodes),
    startAgain: (id, timeoutMs) => startSidecarAgain(docker, id, timeoutMs),
    reserved: reservedAddresses,
    removeState: removeSidecarState,
    watch: (onEvent) => watchSidecars(docker, onEvent),
    waitForLog: (id, patterns, timeoutMs) => waitForLog(docker, id, patterns, timeoutMs),
    streamLog: (id, options, onLine, signal) => streamContainerLog(docker, id, options, onLine, signal),
  };
}
