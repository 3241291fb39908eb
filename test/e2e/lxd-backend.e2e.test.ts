import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { docker, eventually, expectAgreedAddress, fixtureDir, leftovers, rig, rigBin, uniqueName, vethsLeft } from './helpers.js';
import { lxdImages as images, lxdInstances as instances, useLxdHost, type LxdInstance } from './lxd-host.js';
import { createEngine } from '../../src/cli/engine.js';

// `backend: lxd` nodes on this host's own LXD daemon (in the host's network namespace), through the real CLI.
useLxdHost();
const CACHE = '/var/cache/rig'; // rig's cache as root: the LXD nodes' console logs are under lxd-console/

interface StatusNode {
  fqdn: string;
  ip: string;
  stage: string;
  backend: string;
}

describe('a rig with a backend: lxd node beside a Docker node', () => {
  const name = uniqueName('lxd');
  const fixture = fixtureDir(`
name: ${name}
domain: lab.test
network:
  internal: true
nodes:
  box.lab.test:
    backend: lxd
    roles: [app]
    needs: [dock]
    provision:
      - shell: echo "provisioned $(hostname), dock at $(rig-fact get dock ipaddress)" > /tmp/provisioned
    validate:
      - grep -q "dock at 10\\." /tmp/provisioned
      - test -x /.rig/bin/rig-agent && test -r /.rig-repo/rig.yaml
  dock.lab.test: {}
`);
  let nodes: StatusNode[] = [];
  let box: LxdInstance | undefined;

  beforeAll(async () => {
    const up = await rig(['up', fixture.file], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    const status = await rig(['status', '--name', name, '--json']);
    expect(status.exitCode, status.all).toBe(0);
    nodes = JSON.parse(status.stdout)[0].nodes;
    box = (await instances()).find((i) => i.config['user.rig.rig'] === name);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
  });

  it('brings both nodes to ready, each on its backend, the LXD one an instance carrying its marks', () => {
    expect(nodes.map((n) => [n.fqdn, n.backend, n.stage])).toEqual([
      ['box.lab.test', 'lxd', 'ready'],
      ['dock.lab.test', 'docker', 'ready'],
    ]);
    expect(box?.status).toBe('Running');
    expect(box!.name).not.toContain('.'); // never an LXC node's name (rig-<rig>.<node>)
    expect(box!.config).toMatchObject({
      'user.rig.role': 'node',
      'user.rig.backend': 'lxd',
      'user.rig.node': 'box.lab.test',
      'user.rig.roles': 'app',
    });
    // on the rig's own bridge, with its planned host interface and MAC (what port security keys on)
    const [veth] = [box!.devices.eth0.host_name];
    expect(box!.devices.eth0).toMatchObject({ type: 'nic', nictype: 'bridged', host_name: veth });
    expect(veth).toMatch(/^rv[0-9a-f]{12}$/);
  });

  it("gets its planned address by DHCP from the rig's sidecar: eth0, the lease, its status and its fact agree", async () => {
    const leases = await docker(['exec', `rig-${name}.sidecar`, 'cat', '/var/lib/misc/dnsmasq.leases']);
    const ip = (await execa('lxc', ['exec', box!.name, '--', '/.rig/bin/ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    await expectAgreedAddress(name, nodes[0], ip, leases);
    const mac = await rig(['facts', 'box', 'macaddress', '--name', name]);
    expect(mac.stdout.trim()).toBe(box!.devices.eth0.hwaddr);
  });

  it('publishes its facts from inside', async () => {
    const facts = await rig(['facts', 'box', '--name', name, '--json']);
    expect(facts.exitCode, facts.all).toBe(0);
    expect(JSON.parse(facts.stdout)).toMatchObject({
      hostname: 'box',
      fqdn: 'box.lab.test',
      ipaddress: nodes[0].ip,
      os: 'debian',
      rig: name,
    });
  });

  it('finds the Docker node by name, and the Docker node finds it', async () => {
    const fromBox = await rig(['exec', 'box', '--name', name, '--', 'getent', 'hosts', 'dock.lab.test']);
    expect(fromBox.stdout.trim()).toMatch(new RegExp(`^${nodes[1].ip.replaceAll('.', '\\.')}\\s+dock\\.lab\\.test$`));
    const fromDock = await rig(['exec', 'dock', '--name', name, '--', 'getent', 'hosts', 'box']);
    expect(fromDock.stdout.trim()).toMatch(new RegExp(`^${nodes[0].ip.replaceAll('.', '\\.')}\\s+box\\.lab\\.test$`));
    const ping = await rig(['exec', 'dock', '--name', name, '--', '/.rig/bin/ping', '-c', '1', '-W', '5', 'box']);
    expect(ping.exitCode, ping.all).toBe(0);
  });

  it('runs commands in it (exit codes, the rig file read-only) and shows its log', async () => {
    const hostname = await rig(['exec', 'box', '--name', name, '--', 'cat', '/etc/hostname']);
    expect(hostname.stdout.trim()).toBe('box');
    expect((await rig(['exec', 'box', '--name', name, '--', 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
    const write = await rig(['exec', 'box', '--name', name, '--', 'touch', '/.rig-repo/x']);
    expect(write.exitCode).not.toBe(0);
    const provisioned = await rig(['exec', 'box', '--name', name, '--', 'cat', '/tmp/provisioned']);
    expect(provisioned.stdout.trim()).toBe(`provisioned box, dock at ${nodes[1].ip}`);
    const logs = await rig(['logs', 'box', '--name', name]);
    expect(logs.exitCode, logs.all).toBe(0);
    expect(logs.stdout).toContain(`ready: box.lab.test at ${nodes[0].ip}`);
  });

  it('provisions it again and runs its validate commands', async () => {
    const provision = await rig(['provision', 'box', '--name', name]);
    expect(provision.exitCode, provision.all).toBe(0);
    const test = await rig(['test', '--name', name, '--json']);
    expect(test.exitCode, test.all).toBe(0);
    const results = JSON.parse(test.stdout) as Array<{ fqdn: string; passed: boolean }>;
    expect(results.filter((r) => r.fqdn === 'box.lab.test').map((r) => r.passed)).toEqual([true, true]);
  });

  it('passes stdin to a command, stdout and stderr apart', async () => {
    const cat = await execa('node', [rigBin, 'exec', '-i', 'box', '--name', name, '--', 'sh', '-c', 'tr a-z A-Z; echo err >&2'], {
      input: 'hello\n',
      reject: false,
      env: { CI: 'true' },
    });
    expect([cat.exitCode, cat.stdout, cat.stderr]).toEqual([0, 'HELLO', 'err']);
  });

  it("drills: its deaths come as LXD's events; stop, start, pause and unpause it, and it is ready again at its address", async () => {
    const engine = await createEngine();
    const deaths: string[] = [];
    const stop = await engine.backends.lxd!.watchDeaths!(name, (node) => deaths.push(node));
    try {
      const kill = await rig(['kill', 'box', '--name', name]);
      expect(kill.exitCode, kill.all).toBe(0);
      const exec = await rig(['exec', 'box', '--name', name, '--', 'true']);
      expect([exec.exitCode, exec.stderr]).toEqual([2, expect.stringContaining('box.lab.test is not running.')]);
      for (const drill of ['start', 'stop', 'start', 'pause', 'unpause']) {
        const run = await rig([drill, 'box', '--name', name]);
        expect(run.exitCode, `${drill}: ${run.all}`).toBe(0);
      }
      await eventually(async () => deaths.length >= 2, 10_000); // events come on their own stream
      expect(deaths).toEqual(['box.lab.test', 'box.lab.test']); // the kill and the stop
    } finally {
      stop();
    }
    const status = await rig(['status', '--name', name, '--json']);
    expect(JSON.parse(status.stdout)[0].nodes[0]).toMatchObject({ fqdn: 'box.lab.test', ip: nodes[0].ip, stage: 'ready' });
  });

  it('takes it down: no instance, veth, console log, container or network is left; the shared base image stays', async () => {
    const down = await rig(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect((await instances()).filter((i) => i.config['user.rig.rig'] === name || i.name === box!.name)).toEqual([]);
    expect(await vethsLeft(name, ['box.lab.test', 'dock.lab.test'])).toEqual([]);
    expect(existsSync(`${CACHE}/lxd-console/${box!.name}`)).toBe(false);
    expect(await leftovers(name)).toEqual([]);
    // the node image is rig's base, kept like rig's Docker images (shared by every rig: rig made none for this one)
    const base = (await images()).filter((i) => i.aliases.some((a) => a.name.startsWith('rig-base-')));
    expect(base).toHaveLength(1);
    expect(base[0].properties['user.rig.image']).toMatch(/^rig\/base:/);
  });
});

describe('backend: lxd with no LXD daemon answering', () => {
  it('fails with exit 2 before anything is made, saying how to start one', async () => {
    const name = uniqueName('lxdno');
    const fixture = fixtureDir(`
name: ${name}
domain: lab.test
backend: lxd
nodes:
  a.lab.test: {}
`);
    try {
      const up = await rig(['up', fixture.file], { cwd: fixture.dir, env: { RIG_LXD_SOCKET: '/nonexistent/lxd/unix.socket' } });
      expect(up.exitCode, up.all).toBe(2);
      expect(up.all).toContain('No LXD daemon answers on /nonexistent/lxd/unix.socket');
      expect(up.all).toContain('lxd waitready');
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });
});
