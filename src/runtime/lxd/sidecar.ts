import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import type { Plan } from '../../plan/plan.js';
import { assignAddresses, dnsmasqCommand, ETCD_SOCKET, etcdCommand, NODES_CONF, nodesConf } from '../../plan/sidecar.js';
import { LOG_FILE_MB } from '../backend.js';
import { streamConsoleLog } from '../lxc/console-log.js';
import { paced, scaledWaitMs } from '../pacing.js';
import { NameTaken, type RigNetwork, type SidecarEvents, type Sidecars } from '../runtime.js';
import { sidecarWiring } from '../veth.js';
import { removeSidecarState, reservedAddresses, SIDECAR_STATE_ROOT } from '../sidecar-state.js';
import type { LxdClient } from './api.js';
import { consoleDir, watchConsole } from './console-wait.js';
import { followEvents, instanceOf } from './events.js';
import { pushFile } from './files.js';
import { labelsOf, marksOf } from './marks.js';
import type { NodeImages } from './node-images.js';
import { LxdError } from './transport.js';

/**
 * The rig's sidecar as an LXD instance on the rig's LXD bridge: rig's sidecar image (the Docker sidecar's, the same
 * files) imported into LXD's store once under its hashed alias, run by the same rig-sidecar with the same command
 * lines (plan/sidecar.ts). Its eth0 is LXD's bridged NIC with the planned MAC and host interface (LXD makes it on
 * every start: no wiring by rig). etcd's data and dnsmasq's leases live on this host's tmpfs as the Docker sidecar's
 * do (disk devices of its state directory), so etcd's Unix socket for the host appears there, reached by root alone,
 * and facts and leases outlive a restart. (That is the local daemon's way; docs/multi-host.md says the remote one.)
 */

/** How long rig-sidecar may take to say it did what a signal asks, in a small rig. */
const SIGNAL_ANSWER_MS = 10_000;
/** How long etcd and dnsmasq may take to serve once the sidecar starts, in a small rig. */
const DAEMONS_SERVE_MS = 30_000;
const ETCD_SERVES = /serving client traffic|ready to serve client requests/;
const DNSMASQ_SERVES = /DHCP, static leases only on/;
const SIDECAR_WIRED = /rig-sidecar: eth0 has the rig's addresses/;
/** The script the instance's init runs: rig-sidecar's command line and environment, quoted, as Docker's Cmd and Env. */
const START_SCRIPT = '/.rig-sidecar-start';

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface LxdSidecarOptions {
  cacheDir: string;
  image: string; // rig/sidecar:<hash>, imported as rig-sidecar-<hash>
}

export class LxdSidecars implements Sidecars {
  private readonly making = new Map<string, Promise<void>>(); // by instance name: those this process makes
  private readonly mine = new Set<string>(); // those made (or being made) by this process and not removed

  constructor(
    private readonly client: LxdClient,
    private readonly images: NodeImages,
    private readonly options: LxdSidecarOptions,
  ) {}

  private console(id: string): string {
    return consoleDir(this.options.cacheDir, id);
  }

  /**
   * Its instance is made in the background (on a `dir` pool, a copy of the image: seconds), while the engine goes
   * on to make the nodes; `start` waits for it. The rig's name is claimed by its LXD network, which LXD lets only one
   * rig have (rig-networks.ts); a sidecar of that name here, or being made by this process, is refused at once.
   */
  async create(plan: Plan, net: RigNetwork, etcdRootPassword: string): Promise<string> {
    const name = plan.sidecar.container;
    if (this.mine.has(name) || (await this.client.instance(name))) throw new NameTaken(`the LXD instance name ${name} is taken`);
    const made = this.make(plan, net, etcdRootPassword);
    made.catch(() => this.mine.delete(name)); // start says why
    this.making.set(name, made);
    this.mine.add(name);
    return name;
  }

  /** Every sidecar this process is making, made or failed: what a look for a rig's instances waits for first. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.making.values()]);
  }

  private async make(plan: Plan, net: RigNetwork, etcdRootPassword: string): Promise<void> {
    const alias = await this.images.alias(this.options.image);
    const name = plan.sidecar.container;
    const a = net.addresses;
    const prefix = a.subnet.split('/')[1];
    const state = join(SIDECAR_STATE_ROOT, `${plan.name}.${randomBytes(6).toString('hex')}`);
    for (const dir of ['etcd', 'misc']) mkdirSync(join(state, dir), { recursive: true, mode: 0o700 });
    writeFileSync(join(state, NODES_CONF), nodesConf(plan, assignAddresses(plan, a)));
    mkdirSync(this.console(name), { recursive: true });
    const env = {
      RIG_ADDRESSES: `${a.dnsmasq}/${prefix} ${a.etcd}/${prefix}`,
      RIG_ETCD_SOCKET: ETCD_SOCKET,
      ...(net.internal ? {} : { RIG_GATEWAY: a.gateway }),
    };
    const command = ['/usr/local/bin/rig-sidecar', ...dnsmasqCommand(plan, net), '--', ...etcdCommand(net)];
    const script = [
      '#!/bin/sh',
      'cd /var/lib/etcd || exit 1', // etcd's Unix socket for the host is named relative to it (ETCD_SOCKET)
      ...Object.entries(env).map(([key, value]) => `export ${key}=${quote(value)}`),
      `exec ${command.map(quote).join(' ')}`,
      '',
    ].join('\n');
    const raw = [
      'lxc.uts.name = rig-sidecar',
      `lxc.init.cmd = /bin/sh ${START_SCRIPT}`,
      'lxc.signal.halt = SIGTERM', // rig-sidecar ends its daemons on TERM (LXD asks init with SIGPWR, which it ignores)
      `lxc.console.logfile = ${join(this.console(name), 'console.log')}`,
      `lxc.console.size = ${LOG_FILE_MB}MB`,
      'lxc.console.rotate = 1',
    ];
    const marks = marksOf({ [Label.rig]: plan.name, [Label.role]: 'sidecar', [Label.etcdRoot]: etcdRootPassword, [Label.state]: state });
    const { hostInterface } = sidecarWiring(plan.name);
    const devices = {
      eth0: { type: 'nic', nictype: 'bridged', parent: net.bridge, name: 'eth0', hwaddr: plan.sidecar.mac, host_name: hostInterface },
      etcd: { type: 'disk', source: join(state, 'etcd'), path: '/var/lib/etcd' },
      misc: { type: 'disk', source: join(state, 'misc'), path: '/var/lib/misc' }, // dnsmasq's leases and its nodes' config
    };
    const config = {
      'raw.lxc': `${raw.join('\n')}\n`,
      // Privileged, as the Docker sidecar has NET_ADMIN: its addresses, the gate's iptables rule, DHCP replies to clients with no address.
      'security.privileged': 'true',
      'boot.autostart': 'false',
      ...marks,
    };
    try {
      await paced(() => this.client.createInstance({ name, alias, config, devices }), { first: true });
      await Promise.all([
        pushFile(this.client, name, START_SCRIPT, script, { mode: 0o755 }),
        // A rig that may reach out: dnsmasq asks the host's resolvers (Docker gives its container the host's file).
        ...(net.internal ? [] : [pushFile(this.client, name, '/etc/resolv.conf', readFileSync('/etc/resolv.conf'))]),
      ]);
    } catch (err) {
      rmSync(state, { recursive: true, force: true });
      if (err instanceof LxdError && (err.status === 409 || /already exists/i.test(err.lxdMessage)))
        throw new NameTaken(`the LXD instance name ${name} is taken`, { cause: err });
      throw err;
    }
  }

  async start(plan: Plan, net: RigNetwork, id: string, events: SidecarEvents = {}): Promise<void> {
    const waitMs = scaledWaitMs(DAEMONS_SERVE_MS, plan.nodes.length);
    try {
      await this.making.get(id);
      const etcdServes = await watchConsole(this.console(id), [ETCD_SERVES], waitMs);
      const bridgeServes = await watchConsole(this.console(id), [DNSMASQ_SERVES, SIDECAR_WIRED], waitMs);
      const starting = paced(() => this.client.setState(id, 'start'), { first: true });
      events.started?.();
      await starting;
      events.wired?.(); // LXD put its NIC on the bridge as it started
      const labels = labelsOf((await this.client.instance(id))?.config);
      const socket = join(labels[Label.state], 'etcd', ETCD_SOCKET);
      await Promise.all([etcdServes().then(() => events.etcdServes?.(socket)), bridgeServes().then(() => events.bridgeServes?.())]);
    } catch (err) {
      throw new RigError(
        `The sidecar ${id} (dnsmasq and etcd, an LXD instance) ${err instanceof LxdError ? `could not start: ${err.lxdMessage}` : (err as Error).message}`,
        `see its whole log: ${join(this.console(id), 'console.log')} (run up with --keep-on-failure to keep it)`,
        undefined,
        { cause: err },
      );
    }
  }

  /** Signal rig-sidecar (the instance's init) through LXD, and wait for the line that says it did what the signal asks. */
  private async signalAndAwait(id: string, signal: string, done: RegExp[], nodes: number): Promise<void> {
    const said = await watchConsole(this.console(id), done, scaledWaitMs(SIGNAL_ANSWER_MS, nodes), { newOnly: true });
    const sent = await this.client.exec(id, ['busybox', 'kill', `-${signal}`, '1']).catch((err: unknown) => ({
      exitCode: -1,
      stderr: err instanceof LxdError ? err.lxdMessage : String(err),
    }));
    if (sent.exitCode !== 0)
      throw new RigError(`Could not signal the sidecar ${id} (${signal}): ${sent.stderr.trim()}`, `see its state: lxc info ${id}`);
    await said();
  }

  letNodesIn(id: string, nodes: number): Promise<void> {
    return this.signalAndAwait(id, 'USR1', [/rig-sidecar: etcd lets the nodes in/], nodes);
  }

  async reload(sidecar: { id: string; labels: Record<string, string> }, conf: string, nodes: number): Promise<void> {
    const path = join(sidecar.labels[Label.state], NODES_CONF);
    writeFileSync(`${path}.new`, conf);
    renameSync(`${path}.new`, path);
    await this.signalAndAwait(sidecar.id, 'HUP', [DNSMASQ_SERVES], nodes);
  }

  async startAgain(id: string, timeoutMs: number): Promise<void> {
    const serves = await watchConsole(this.console(id), [SIDECAR_WIRED, DNSMASQ_SERVES, ETCD_SERVES], timeoutMs, { newOnly: true });
    await this.client.setState(id, 'start');
    await serves().catch((err: Error) => {
      throw new RigError(
        `The sidecar ${id} was started again, but ${err.message}`,
        `see its log: ${join(this.console(id), 'console.log')}`,
      );
    });
  }

  reserved = reservedAddresses;

  removeState(labels: Record<string, string>): void {
    removeSidecarState(labels);
  }

  /** The instance is gone: its console log on this host goes too, and its name may be made again. */
  removed(id: string): void {
    rmSync(this.console(id), { recursive: true, force: true });
    this.making.delete(id);
    this.mine.delete(id);
  }

  async watch(onEvent: (event: { rig: string; id: string; action: 'start' | 'die' }) => void): Promise<() => void> {
    const stream = await followEvents(this.client, ['lifecycle'], (event) => {
      const what = event.metadata.action;
      const action =
        what === 'instance-started' ? 'start' : what === 'instance-stopped' || what === 'instance-shutdown' ? 'die' : undefined;
      const name = action && instanceOf(event);
      if (!name) return;
      this.client
        .instance(name)
        .then((found) => {
          const labels = labelsOf(found?.config);
          if (labels[Label.role] === 'sidecar') onEvent({ rig: labels[Label.rig], id: name, action });
        })
        .catch(() => {}); // deleted meanwhile (rig down): its rig is going, not an event to tell
    });
    return () => stream.stop();
  }

  async waitForLog(id: string, patterns: RegExp[], timeoutMs: number): Promise<void> {
    await (
      await watchConsole(this.console(id), patterns, timeoutMs)
    )();
  }

  streamLog(id: string, options: Parameters<Sidecars['streamLog']>[1], onLine: Parameters<Sidecars['streamLog']>[2], signal: AbortSignal) {
    return streamConsoleLog(this.console(id), options, onLine, signal);
  }
}
