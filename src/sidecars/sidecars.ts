import type Docker from 'dockerode';
import { RigError } from '../errors.js';
import { Label } from '../labels.js';
import type { Plan } from '../plan/plan.js';
import type { RigNetwork } from '../runtime/docker/network.js';
import { waitForLog } from '../runtime/docker/containers.js';

/** dnsmasq serves the rig's DHCP and DNS: leases from the rig subnet, names under the rig domain, reverse lookups. */
export function dnsmasqCommand(plan: Plan, net: RigNetwork): string[] {
  const a = net.addresses;
  const domain = plan.spec.domain;
  return [
    'dnsmasq',
    '--keep-in-foreground',
    '--log-facility=-',
    '--conf-file=/dev/null',
    '--user=root',
    '--no-hosts',
    `--domain=${domain},${a.subnet}`,
    `--local=/${domain}/`, // names under the rig domain are answered here and never forwarded
    '--bogus-priv',
    '--expand-hosts',
    `--dhcp-range=${a.dhcpFirst},${a.dhcpLast},${a.netmask},12h`,
    // An internal rig has no way out: offer no default route. Otherwise the bridge (Docker's gateway) routes.
    net.internal ? '--dhcp-option=option:router' : `--dhcp-option=option:router,${a.gateway}`,
    '--dhcp-authoritative',
    '--no-ping', // the pool is ours alone; the ICMP probe only slows every lease down
    '--dhcp-leasefile=/var/lib/misc/dnsmasq.leases',
    '--log-dhcp',
    // An internal rig forwards no query out of the machine; otherwise use the resolvers Docker gave the container.
    ...(net.internal ? ['--no-resolv'] : []),
  ];
}

export function etcdCommand(net: RigNetwork): string[] {
  return [
    'etcd',
    '--name=rig',
    '--data-dir=/var/lib/etcd/rig',
    '--listen-client-urls=http://0.0.0.0:2379',
    `--advertise-client-urls=http://${net.addresses.etcd}:2379`,
    '--listen-peer-urls=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=rig=http://127.0.0.1:2380',
    '--logger=zap',
    // One member on one machine: elect it at once rather than after the default one-second election timeout.
    '--heartbeat-interval=10',
    '--election-timeout=100',
  ];
}

export const etcdUrl = (net: RigNetwork) => `http://${net.addresses.etcd}:2379`;

/**
 * Start dnsmasq and etcd side by side; `started` is called once both containers run (the engine can take other
 * containers then), and the promise resolves when both say they serve.
 */
export async function startSidecars(docker: Docker, plan: Plan, net: RigNetwork, image: string, started: () => void = () => {}): Promise<void> {
  let running = 0;
  const sidecar = async (name: string, role: 'dnsmasq' | 'etcd', ip: string, cmd: string[], ready: RegExp) => {
    const container = await docker.createContainer({
      name,
      Image: image,
      Cmd: cmd,
      Hostname: role === 'dnsmasq' ? 'rig-dns' : 'rig-etcd',
      Labels: { [Label.rig]: plan.name, [Label.role]: role },
      HostConfig: {
        NetworkMode: net.name,
        CapAdd: role === 'dnsmasq' ? ['NET_ADMIN'] : [],
        Tmpfs: role === 'etcd' ? { '/var/lib/etcd': 'rw,size=256m' } : {},
        Init: false,
      },
      NetworkingConfig: { EndpointsConfig: { [net.name]: { IPAMConfig: { IPv4Address: ip } } } },
    });
    await container.start();
    if (++running === 2) started();
    try {
      await waitForLog(docker, container.id, ready, 30_000);
    } catch (err) {
      throw new RigError(`The ${role} sidecar ${name} ${(err as Error).message}`, `see its whole log with: docker logs ${name} (run up with --keep-on-failure to keep it)`);
    }
  };
  await Promise.all([
    sidecar(plan.dnsmasq, 'dnsmasq', net.addresses.dnsmasq, dnsmasqCommand(plan, net), /DHCP, IP range/),
    sidecar(plan.etcd, 'etcd', net.addresses.etcd, etcdCommand(net), /serving client traffic|ready to serve client requests/),
  ]);
}
