import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { docker, eventually, fixtureDir, leftovers, rig, rigBin, useRig } from './helpers.js';

// A node image with iptables in it (rig's sidecar image is Debian with iptables): a node that runs its own firewall.
const firewallImage = `rigtest-firewall:${process.pid}`;

interface StatusNode {
  fqdn: string;
  ip: string;
  stage: string;
}

/** A shell script run as root inside a node, with busybox's tools (ip, arping, nc, udhcpc, ping) on the PATH after the image's. */
const inNode = (name: string, node: string, script: string) =>
  rig(['exec', node, '--name', name, '--', '/.rig/bin/sh', '-c', `PATH=$PATH:/.rig/bin; ${script}`]);

describe('a hostile node stays in its own lane (port security on the rig bridge)', () => {
  beforeAll(async () => {
    const build = await rig(['images', 'build', '--json']);
    const images = JSON.parse(build.stdout) as Array<{ image: string; ref: string }>;
    await docker(['tag', images.find((i) => i.image === 'sidecar')!.ref, firewallImage]);
  });
  afterAll(async () => {
    await execa('docker', ['rmi', firewallImage], { reject: false });
  });

  const r = useRig(
    'lane',
    (name) => `name: ${name}
domain: h.test
network: { internal: true }
configs: []
nodes:
  good.h.test:
  evil.h.test:
    image: ${firewallImage}
  levil.h.test:
    backend: lxc
    image: ${firewallImage}
`,
  );

  let nodes: Record<string, string> = {}; // short name -> address
  let sidecar = { dns: '', etcd: '', state: '' };
  beforeAll(async () => {
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout) as Array<{
      dns: string;
      etcd: string;
      nodes: StatusNode[];
    }>;
    nodes = Object.fromEntries(status.nodes.map((n) => [n.fqdn.split('.')[0], n.ip]));
    const state = await docker(['ps', '-q', '--filter', `label=io.rig.rig=${r.name}`, '--filter', 'label=io.rig.role=sidecar']);
    sidecar = {
      dns: status.dns,
      etcd: new URL(status.etcd).hostname,
      state: await docker(['inspect', '-f', '{{index .Config.Labels "io.rig.state"}}', state.trim()]),
    };
  });

  const leases = () =>
    readFileSync(join(sidecar.state, 'misc', 'dnsmasq.leases'), 'utf8')
      .trim()
      .split('\n');

  describe.each(['evil', 'levil'])('from inside %s', (attacker) => {
    it('may still run its own firewall with iptables (NET_ADMIN in its namespace)', async () => {
      const ping = () => inNode(r.name, 'good', `ping -c 1 -W 1 ${nodes[attacker]}`);
      expect((await ping()).exitCode).toBe(0);
      const drop = await inNode(r.name, attacker, 'iptables -I INPUT -p icmp -j DROP');
      expect(drop.exitCode, drop.all).toBe(0);
      expect((await ping()).exitCode).not.toBe(0);
      expect((await inNode(r.name, attacker, 'iptables -D INPUT -p icmp -j DROP')).exitCode).toBe(0);
      expect((await ping()).exitCode).toBe(0);
    });

    it('gets nothing through with a changed MAC, and is back once it has its own again', async () => {
      const own = (await inNode(r.name, attacker, 'cat /sys/class/net/eth0/address')).stdout.trim();
      const setMac = (mac: string) => `ip link set eth0 down && ip link set eth0 address ${mac} && ip link set eth0 up`;
      const changed = await inNode(r.name, attacker, `${setMac('02:11:22:33:44:55')} && ping -c 2 -W 1 ${sidecar.dns}`);
      expect(changed.exitCode, changed.all).not.toBe(0);
      const back = await inNode(r.name, attacker, `${setMac(own)} && ping -c 1 -W 2 ${sidecar.dns}`);
      expect(back.exitCode, back.all).toBe(0);
      expect((await inNode(r.name, attacker, 'rig-fact set after_mac yes')).exitCode).toBe(0);
    });

    it('gets no lease for made-up MACs or client ids, so it cannot empty the pool', async () => {
      const own = (await inNode(r.name, attacker, 'cat /sys/class/net/eth0/address')).stdout.trim();
      const before = leases();
      const flood = [1, 2, 3, 4, 5, 6]
        .map(
          (i) =>
            `ip link set eth0 down; ip link set eth0 address 02:66:00:00:00:0${i}; ip link set eth0 up; ` +
            `udhcpc -i eth0 -n -q -t 1 -T 1 -s /.rig/bin/true >/dev/null 2>&1 && got=$((got + 1))`,
        )
        .join('; ');
      const clientIds = [1, 2, 3].map((i) => `udhcpc -i eth0 -n -q -t 1 -T 1 -s /.rig/bin/true -x 0x3d:01deadbeef000${i} >/dev/null 2>&1`);
      const out = await inNode(
        r.name,
        attacker,
        `got=0; ${flood}; ip link set eth0 down; ip link set eth0 address ${own}; ip link set eth0 up; ${clientIds.join('; ')}; echo "leases for made-up MACs: $got"`,
      );
      expect(out.stdout).toContain('leases for made-up MACs: 0');
      // One lease per node, each for its planned MAC: the same three as before the flood.
      expect(
        leases()
          .map((l) => l.split(' ').slice(1, 3).join(' '))
          .sort(),
      ).toEqual(before.map((l) => l.split(' ').slice(1, 3).join(' ')).sort());
      expect(leases()).toHaveLength(3);
      expect((await inNode(r.name, attacker, `ping -c 1 -W 2 ${sidecar.dns}`)).exitCode).toBe(0);
    });

    it("cannot pose as the sidecar's etcd: a peer's login and writes still reach the real one", async () => {
      const etcd = sidecar.etcd;
      // The attack the campaign ran: the sidecar's address on eth0, gratuitous ARPs for it, and a listener on :2379.
      // The attacker's own agent, which keeps its lease alive every second, would talk to that listener itself: it
      // is frozen for the attack (a peer's traffic is what must never arrive), and thawed after.
      const attack = inNode(
        r.name,
        attacker,
        `keeper=$(cat /run/rig/alive.pid 2>/dev/null || cat /tmp/.rig/alive.pid); kill -STOP $keeper; sleep 1; ` +
          `ip addr add ${etcd}/32 dev eth0 && (arping -U -c 8 -I eth0 -s ${etcd} ${etcd} >/dev/null 2>&1 &) && ` +
          `timeout 8 nc -l -p 2379 >/tmp/stolen 2>/dev/null; ip addr del ${etcd}/32 dev eth0; kill -CONT $keeper; cat /tmp/stolen`,
      );
      const listening = await eventually(async () => (await inNode(r.name, attacker, 'netstat -ltn')).stdout.includes(':2379'), 10_000);
      expect(listening).toBe(true);
      const writes: number[] = [];
      for (let i = 0; i < 4; i++) {
        writes.push((await inNode(r.name, 'good', `rig-fact set probe v${i}`)).exitCode);
        await new Promise((resolve) => setTimeout(resolve, 500)); // between the attacker's ARPs, a second apart
      }
      const stolen = await attack;
      expect(stolen.stdout).not.toContain('password');
      expect(stolen.stdout).toBe('');
      expect(writes).toEqual([0, 0, 0, 0]);
      expect((await rig(['facts', 'good', 'probe', '--name', r.name])).stdout.trim()).toBe('v3');
    });
  });

  it("sends no root login over the bridge: status, facts, a reconcile and the API use the sidecar's socket", async () => {
    const capture = join(r.dir, 'capture.txt');
    const tcpdump: ResultPromise = execa('tcpdump', ['-i', 'any', '-U', '-A', '-s', '0', '-l', 'tcp port 2379'], {
      reject: false,
      stdout: { file: capture },
    });
    try {
      const ready = await eventually(async () => {
        await inNode(r.name, 'good', 'rig-fact set capture_probe 1');
        return readFileSync(capture, 'utf8').includes('capture_probe') || readFileSync(capture, 'utf8').includes('good.h.test');
      }, 15_000);
      expect(ready).toBe(true);
      expect((await rig(['status', '--name', r.name])).exitCode).toBe(0);
      expect((await rig(['facts', 'good', '--name', r.name])).exitCode).toBe(0);
      // A reconcile: a new node (its own login crosses the bridge, as it must; the host's does not).
      const file = join(r.dir, 'rig.yaml');
      writeFileSync(file, `${readFileSync(file, 'utf8')}  extra.h.test:\n`);
      const reconcile = await rig(['up', 'rig.yaml'], { cwd: r.dir });
      expect(reconcile.exitCode, reconcile.all).toBe(0);
      const api = await execa(
        'node',
        [
          '--input-type=module',
          '-e',
          `const { up } = await import(${JSON.stringify(join(rigBin, '..', '..', 'dist', 'api.js'))});
           const fixture = process.argv[1];
           const rig = await up(fixture);
           try { console.log(JSON.stringify(await rig.node('a').facts())); } finally { await rig.down(); }`,
          await apiRigFile(r.name),
        ],
        { reject: false, all: true, env: { CI: 'true' } },
      );
      expect(api.exitCode, api.all).toBe(0);
      expect(JSON.parse(api.stdout).ipaddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    } finally {
      tcpdump.kill('SIGINT');
      await tcpdump;
    }
    const seen = readFileSync(capture, 'utf8');
    expect(seen).toContain('"name":"extra.h.test"'); // the capture saw logins on the bridge
    expect(seen).not.toContain('"name":"root"');
  });
});

const apiFixtures: Array<{ name: string; cleanup: () => void }> = [];
afterAll(async () => {
  for (const { name, cleanup } of apiFixtures) {
    await rig(['down', '--name', name]); // gone already, unless the API's up failed halfway
    cleanup();
    expect(await leftovers(name)).toEqual([]);
  }
});

/** A one-node rig for the API to bring up and take down by itself. */
async function apiRigFile(prefix: string): Promise<string> {
  const name = `${prefix.slice(0, 20)}-api`;
  const fixture = fixtureDir(`name: ${name}\ndomain: api.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.api.test:\n`);
  apiFixtures.push({ name, cleanup: fixture.cleanup });
  return fixture.file;
}
