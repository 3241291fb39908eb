import { existsSync, readFileSync } from 'node:fs';
import chalk from 'chalk';
import { ImageBuilder, IMAGE_NAMES } from '../../runtime/docker/images.js';
import { pickSubnet } from '../../ipv4.js';
import { connectDocker } from '../../runtime/docker/connect.js';
import { settings } from '../engine.js';
import type Docker from 'dockerode';
import { type CommandError, runCommand } from '../../runtime/command.js';

/** What the checks learn on the way: the engine, once one answers. */
interface Host {
  docker?: Docker;
}

interface Check {
  name: string;
  required: boolean; // a failed required check makes doctor exit non-zero
  run: (host: Host) => Promise<string>; // what was found; throws Failed with the fix
}

class Failed extends Error {
  constructor(
    readonly found: string,
    readonly fix: string,
  ) {
    super(found);
  }
}

const tool = async (command: string, args: string[], fix: string) => {
  try {
    return (await runCommand(command, args)).output.split('\n')[0];
  } catch (err) {
    throw new Failed((err as CommandError).code === 'ENOENT' ? `${command} not found` : (err as Error).message.split('\n')[0], fix);
  }
};

/** The checks, in order: each says what it found, or fails with the fix. */
const CHECKS: Check[] = [
  {
    name: 'Node.js',
    required: true,
    run: async () => {
      const [major, minor] = process.versions.node.split('.').map(Number);
      if (major < 20 || (major === 20 && minor < 5)) throw new Failed(`Node.js ${process.version}`, 'install Node.js 20.5 or newer');
      return process.version;
    },
  },
  {
    name: 'Docker engine',
    required: true,
    run: async (host) => {
      try {
        host.docker = await connectDocker();
      } catch (err) {
        const e = err as { message: string; hint?: string };
        throw new Failed(e.message, e.hint ?? '');
      }
      const v = await host.docker!.version();
      return `Docker ${v.Version}, API ${v.ApiVersion}`;
    },
  },
  {
    name: 'root',
    required: true,
    run: async () => {
      if (process.getuid?.() !== 0)
        throw new Failed(
          `running as uid ${process.getuid?.()}`,
          'run rig as root: it wires veths into bridges, manages a firewall rule and runs debootstrap',
        );
      return 'running as root';
    },
  },
  { name: 'iproute2', required: true, run: () => tool('ip', ['-V'], 'apt-get install iproute2') },
  {
    name: 'veth support',
    required: true,
    run: async () => {
      const name = `rigdoc${process.pid % 100000}`;
      await tool('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`], 'load the veth module: modprobe veth');
      await runCommand('ip', ['link', 'del', name]).catch(() => {}); // the check passed; a pair left over is harmless and named rigdoc*
      return 'a veth pair can be made';
    },
  },
  {
    name: 'iptables DOCKER-USER',
    required: true,
    run: async () => {
      await tool(
        'iptables',
        ['-w', '-S', 'DOCKER-USER'],
        'apt-get install iptables, and let dockerd manage iptables (it makes the DOCKER-USER chain)',
      );
      return 'the chain exists (internal rigs add one rule there)';
    },
  },
  {
    name: 'nftables port security',
    required: true,
    run: async () => {
      // A bridge table with nothing in it: what rig's port guard needs of nft and the kernel, made and removed.
      const table = `rigdoc${process.pid % 100000}`;
      await tool('nft', ['add', 'table', 'bridge', table], 'apt-get install nftables (rig guards each node port with it), and run as root');
      await runCommand('nft', ['delete', 'table', 'bridge', table]).catch(() => {}); // made just above; nothing else to undo
      return "a bridge table can be made (each node's port passes only its own MAC and address)";
    },
  },
  {
    name: 'bridge netfilter',
    required: false,
    run: async () => {
      const path = '/proc/sys/net/bridge/bridge-nf-call-iptables';
      return existsSync(path) ? `bridge-nf-call-iptables=${readFileSync(path, 'utf8').trim()}` : 'br_netfilter not loaded (fine)';
    },
  },
  {
    name: 'netem (rig netem --delay)',
    required: false,
    run: async () => {
      const { netemAvailable } = await import('../../runtime/impairments.js');
      const netem = await netemAvailable();
      if (!netem.ok)
        throw new Failed(
          `this kernel has no netem qdisc (${netem.why || 'tc refused it'}): rig netem --delay cannot work; --loss, partitions and the other drills can`,
          'modprobe sch_netem, or a kernel built with CONFIG_NET_SCH_NETEM',
        );
      return 'a netem qdisc can be set: rig netem --delay works';
    },
  },
  {
    name: 'debootstrap',
    required: true,
    run: () => tool('debootstrap', ['--version'], 'apt-get install debootstrap (rig builds its base image with it)'),
  },
  { name: 'LXC', required: false, run: () => tool('lxc-start', ['--version'], 'apt-get install lxc (only for backend: lxc)') },
  {
    name: 'overlayfs',
    required: false,
    run: async () => {
      if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay'))
        throw new Failed(
          'overlay is not in /proc/filesystems',
          'modprobe overlay (LXC nodes start from an overlay of the base root filesystem)',
        );
      return 'available';
    },
  },
  {
    name: 'systemd nodes',
    required: false,
    run: async (host) => {
      const fix = 'only for nodes with init: systemd; see README "Nodes with systemd"';
      if (!host.docker) throw new Failed('unknown: no engine', 'start the Docker engine first');
      const [version, info] = await Promise.all([
        host.docker.version(),
        host.docker.info() as Promise<{ SecurityOptions?: string[]; CgroupVersion?: string }>,
      ]);
      const [major, minor] = version.ApiVersion.split('.').map(Number);
      if (major === 1 && minor < 41)
        throw new Failed(
          `Docker API ${version.ApiVersion} cannot share the host's cgroup namespace`,
          `upgrade Docker to 20.10 or newer (${fix})`,
        );
      const security = (info.SecurityOptions ?? []).join(' ');
      if (/rootless|userns/.test(security))
        throw new Failed(
          `Docker runs ${/rootless/.test(security) ? 'rootless' : 'with userns-remap'}: it cannot give a node CAP_SYS_ADMIN over the host's cgroups`,
          fix,
        );
      const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
      if (!unified && !existsSync('/sys/fs/cgroup/systemd'))
        throw new Failed(
          'cgroup v1 without a name=systemd hierarchy at /sys/fs/cgroup/systemd',
          `mount it: mkdir /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd (${fix})`,
        );
      return `cgroup ${unified ? 'v2' : 'v1 with a name=systemd hierarchy'}, Docker can share it with a node (SYS_ADMIN, cgroupns=host)`;
    },
  },
  {
    name: 'free subnets',
    required: true,
    run: async (host) => {
      if (!host.docker) throw new Failed('unknown: no engine', 'start the Docker engine first');
      const taken = (await host.docker.listNetworks()).flatMap((n) =>
        (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => !!s && !s.includes(':')),
      );
      let free = 0;
      for (let t = [...taken]; free < 256; free++) {
        const next = pickSubnet('10.213.0.0/16', t);
        if (!next) break;
        t = [...t, next];
      }
      if (!free) throw new Failed('no free /24 in 10.213.0.0/16', 'remove old rigs (rig down --all, rig gc) or set network.pool');
      return `${free} free /24s in the default pool 10.213.0.0/16`;
    },
  },
  {
    name: 'images',
    required: false,
    run: async (host) => {
      if (!host.docker) throw new Failed('unknown: no engine', 'start the Docker engine first');
      const images = new ImageBuilder(host.docker, settings());
      const missing = await images.missing(IMAGE_NAMES);
      if (missing.length)
        throw new Failed(
          `not built yet: ${missing.map((n) => images.ref(n)).join(', ')}`,
          'rig images build (or let the first rig up build them)',
        );
      return `built: ${IMAGE_NAMES.map((n) => images.ref(n)).join(', ')}`;
    },
  },
];

/** rig doctor: check the host for what rig's backends need, each check with the fix; exit 1 if a needed one fails. */
export async function doctor(flags: { json?: boolean }): Promise<void> {
  const host: Host = {};

  const results = [];
  for (const check of CHECKS) {
    try {
      results.push({ name: check.name, required: check.required, ok: true, found: await check.run(host), fix: '' });
    } catch (err) {
      const e = err instanceof Failed ? err : new Failed((err as Error).message, '');
      results.push({ name: check.name, required: check.required, ok: false, found: e.found, fix: e.fix });
    }
  }
  if (flags.json) console.log(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      const mark = r.ok ? chalk.green('✔') : r.required ? chalk.red('✖') : chalk.yellow('!');
      console.log(`${mark} ${r.name}: ${r.found}${r.ok ? '' : `\n    fix: ${r.fix}`}`);
    }
  }
  process.exitCode = results.some((r) => r.required && !r.ok) ? 1 : 0;
}
