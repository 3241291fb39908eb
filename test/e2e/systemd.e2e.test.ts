import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { docker, eventually, fixtureDir, leftovers, rig, rigBin, uniqueName, useRig } from './helpers.js';

/** Every cgroup directory, mount and process on the host that still names one of `ids` (container ids or names). */
async function hostTraces(ids: string[]): Promise<string[]> {
  const cgroups = (await execa('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd'])).stdout.split('\n');
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  return [...cgroups, ...mounts].filter((line) => ids.some((id) => line.includes(id)));
}

describe('init: systemd, on Docker and LXC nodes', () => {
  // Debian's own redis-server.service, stopped, then brought back by Puppet's `service`, as on a production box.
  const r = useRig(
    'sysd',
    (name) => `name: ${name}
domain: sd.test
init: systemd
image: rig:puppet
network: { internal: true }
configs: []
provision:
  - shell: systemctl stop redis-server
  - puppet:
      manifest: manifests/redis.pp
validate:
  - systemctl is-active redis-server
  - redis-cli ping
nodes:
  dock.sd.test:
  cont.sd.test:
    backend: lxc
`,
    { 'manifests/redis.pp': "service { 'redis-server': ensure => running, enable => true }\n" },
  );
  const nodes = ['dock', 'cont'];

  it("boots systemd as PID 1, with rig's agent as one of its services", async () => {
    for (const node of nodes) {
      const pid1 = await rig(['exec', node, '--name', r.name, '--', 'cat', '/proc/1/comm']);
      expect(pid1.stdout.trim(), node).toBe('systemd');
      const state = await rig(['exec', node, '--name', r.name, '--', 'systemctl', 'is-system-running']);
      expect(state.stdout.trim(), `${node}: ${state.all}`).toMatch(/^(running|degraded)$/);
      const agent = await rig(['exec', node, '--name', r.name, '--', 'systemctl', 'is-active', 'rig-agent']);
      expect(agent.stdout.trim(), `${node}: ${agent.all}`).toBe('active');
    }
  });

  it('runs the agent exactly as without systemd: addresses, facts, stages, steps, logs', async () => {
    const status = await rig(['status', '--name', r.name, '--json']);
    expect(status.exitCode, status.all).toBe(0);
    const listed = JSON.parse(status.stdout)[0].nodes as Array<{ fqdn: string; stage: string; ip: string }>;
    expect(listed.map((n) => n.stage)).toEqual(['ready', 'ready']);
    for (const node of nodes) {
      const ip = await rig(['facts', node, 'ipaddress', '--name', r.name]);
      expect(listed.map((n) => n.ip)).toContain(ip.stdout.trim());
      const logs = await rig(['logs', node, '--name', r.name]);
      expect(logs.stdout, node).toMatch(/rig-agent: step 2\/2: puppet/);
      expect(logs.stdout, node).toMatch(/rig-agent: ready: /);
    }
  });

  it("lets Debian packages' units and Puppet's service (systemd provider) work", async () => {
    const test = await rig(['test', '--name', r.name]);
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toMatch(/4 passed, 0 failed/);
    for (const node of nodes) {
      const provider = await rig([
        'exec',
        node,
        '--name',
        r.name,
        '--',
        'puppet',
        'resource',
        'service',
        'redis-server',
        '--param',
        'provider',
      ]);
      expect(provider.stdout, `${node}: ${provider.all}`).toMatch(/provider\s*=>\s*'systemd'/);
      expect(provider.stdout).toMatch(/ensure\s*=>\s*'running'/);
    }
  });

  it('changes only PrivateUsers= in Docker nodes, and nothing in LXC nodes', async () => {
    const dropIn = await rig(['exec', 'dock', '--name', r.name, '--', 'cat', '/run/systemd/system/service.d/rig-container.conf']);
    expect(dropIn.stdout.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['[Service]', 'PrivateUsers=no']);
    const lxc = await rig(['exec', 'cont', '--name', r.name, '--', 'ls', '/run/systemd/system/service.d']);
    expect(lxc.stdout.trim()).toBe('');
    const users = await rig(['exec', 'cont', '--name', r.name, '--', 'systemctl', 'show', '-p', 'PrivateUsers', 'redis-server']);
    expect(users.stdout.trim()).toBe('PrivateUsers=yes');
  });

  it('brings a restarted Docker node back: systemd boots again, the agent comes back ready at its address', async () => {
    const before = (await rig(['facts', 'dock', 'ipaddress', '--name', r.name])).stdout.trim();
    await docker(['restart', '-t', '5', `rig-${r.name}.dock`]);
    const state = async () =>
      (JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout)[0].nodes as Array<{ fqdn: string; stage: string }>).find(
        (n) => n.fqdn === 'dock.sd.test',
      )?.stage;
    const ready = await eventually(async () => (await state()) === 'ready', 60_000, 500);
    expect(ready).toBe(true);
    expect((await rig(['facts', 'dock', 'ipaddress', '--name', r.name])).stdout.trim()).toBe(before);
    const redis = await rig(['exec', 'dock', '--name', r.name, '--', 'redis-cli', 'ping']);
    expect(redis.stdout.trim()).toBe('PONG');
  });

  it('down leaves nothing on the host: no containers, cgroups, mounts or processes', async () => {
    const id = await docker(['inspect', '-f', '{{.Id}}', `rig-${r.name}.dock`]);
    const traces = [id, `rig-${r.name}.cont`];
    expect((await hostTraces(traces)).length).toBeGreaterThan(0); // the check can see them while they run
    const since = Math.floor(Date.now() / 1000) - 1;
    const down = await rig(['down', '--name', r.name]);
    expect(down.exitCode, down.all).toBe(0);
    // Halted as a machine is (systemd's SIGRTMIN+3, 37), and it stopped by itself before it was removed.
    const events = await docker([
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      `container=${id}`,
      '--format',
      '{{.Action}} {{index .Actor.Attributes "signal"}} {{index .Actor.Attributes "exitCode"}}',
    ]);
    expect(events.split('\n').map((e) => e.trim())).toEqual(expect.arrayContaining(['kill 37', 'die  0', 'stop', 'destroy']));
    expect(await leftovers(r.name)).toEqual([]);
    expect(await hostTraces(traces)).toEqual([]);
    expect((await execa('lxc-ls', ['-1'])).stdout).not.toContain(r.name);
    const processes = (await execa('ps', ['-eo', 'args'])).stdout.split('\n');
    expect(processes.filter((p) => p.includes('/lib/systemd/systemd') || p.includes('/run/rig/log'))).toEqual([]);
  });
});

describe('init: systemd, bad input', () => {
  it('an unknown init is exit 2 at its line, with the choices', async () => {
    const name = uniqueName('sysdbad');
    const fixture = fixtureDir(`name: ${name}\ndomain: sd.test\nnodes:\n  a.sd.test:\n    init: upstart\n`);
    try {
      const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(2);
      expect(up.stderr).toMatch(/rig\.yaml:5:\d+.*init.*unknown init "upstart"/);
      expect(up.stderr).toMatch(/init: systemd/);
      expect(await leftovers(name)).toEqual([]);
    } finally {
      fixture.cleanup();
    }
  });

  it("an image without systemd is exit 2 before anything is made, at the node's line, naming the image", async () => {
    const images = await execa('node', [rigBin, 'images', 'build'], { env: { CI: 'true' } });
    const base = /^(rig\/base:[0-9a-f]+)/m.exec(images.stdout)![1]; // as a user's own image: the probe looks into it
    for (const [image, named] of [
      ['rig:base', 'rig:base'],
      [base, base],
    ]) {
      const name = uniqueName('sysdnone');
      const fixture = fixtureDir(
        `name: ${name}\ndomain: sd.test\ninit: systemd\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.sd.test:\n    image: ${image}\n`,
      );
      try {
        const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
        expect(up.exitCode, up.all).toBe(2);
        expect(up.stderr).toContain(`rig.yaml:7: node a.sd.test has init: systemd, but its image ${named} has no systemd`);
        expect(up.stderr).toMatch(/install systemd-sysv in the image \(a build: FROM rig:systemd\), use image: rig:systemd/);
        expect(await leftovers(name)).toEqual([]);
        expect(await docker(['ps', '-a', '--filter', 'label=io.rig.role=probe', '--format', '{{.ID}}'])).toBe('');
      } finally {
        fixture.cleanup();
      }
    }
  });
});
