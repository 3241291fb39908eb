import { afterEach, describe, expect, it } from 'vitest';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { containerName, SIDECAR } from '../../src/labels.js';
import { connectDocker } from '../../src/runtime/docker/connect.js';
import { docker, eventually, fixtureDir, leftovers, rig, ended, killSpawned, printed, spawnRig, uniqueName, vethsLeft } from './helpers.js';

// Interrupts, races and waits of `up` and `run` (issue 12, items 1 to 5 and the name conflicts of 14).

const sixNodes = [
  'barn.village.test',
  'mill.village.test',
  'well.village.test',
  'pump.village.test',
  'gate.village.test',
  'yard.village.test',
];
const twoNodes = sixNodes.slice(0, 2);

const rigFile = (nodes: string[], network = 'internal: true', extra = '') => `${extra}
domain: village.test
network: { ${network} }
configs:
  - dir: hieradata/nodes
nodes:
${nodes.map((n, i) => `  ${n}: ${['straleb.prod.example', 'kelda.prod.example', 'hobb.prod.example'][i] ?? ''}`).join('\n')}
`;

const rigsMade: string[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  killSpawned();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const name of rigsMade.splice(0)) {
    await docker(['unpause', containerName(name, SIDECAR)]).catch(() => {});
    await rig(['down', '--name', name]);
    expect(await leftovers(name)).toEqual([]);
  }
});

function newRig(prefix: string, nodes: string[], network?: string, extra?: string) {
  const name = uniqueName(prefix);
  const fixture = fixtureDir(rigFile(nodes, network, extra));
  rigsMade.push(name);
  cleanups.push(fixture.cleanup);
  return { name, dir: fixture.dir };
}

const symlinksIn = (dir: string) => readdirSync(dir).filter((f) => lstatSync(join(dir, f)).isSymbolicLink());

async function expectNothingLeft(name: string, dir: string, nodes: string[]) {
  // Everything is removed before up exits; veths go with their namespaces, which the kernel may take a moment for.
  expect(await leftovers(name)).toEqual([]);
  expect(await eventually(async () => (await vethsLeft(name, [...nodes, '.sidecar'])).length === 0, 5000)).toBe(true);
  expect(symlinksIn(join(dir, 'hieradata/nodes'))).toEqual([]);
}

async function expectWhole(name: string, nodes: string[]) {
  const status = await rig(['status', '--name', name, '--json']);
  expect(status.exitCode, status.all).toBe(0);
  const [rigStatus] = JSON.parse(status.stdout) as Array<{ nodes: Array<{ fqdn: string; stage: string }> }>;
  expect(rigStatus.nodes.map((n) => [n.fqdn, n.stage])).toEqual(nodes.map((n) => [n, 'ready']));
  const running = await docker(['ps', '--filter', `label=io.rig.rig=${name}`, '--filter', 'status=running', '--format', '{{.Names}}']);
  expect(running.split('\n').filter(Boolean)).toHaveLength(nodes.length + 1);
  const networks = await docker(['network', 'ls', '--filter', `label=io.rig.rig=${name}`, '--format', '{{.Name}}']);
  expect(networks.split('\n').filter(Boolean)).toHaveLength(1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Once every reaper armed for rig `name` has ended (a reaper is a detached `sh`, then `node dist/bundle/reaper.js`, for
 * the rig; a disarmed one ends as it reads "disarm"). A reaper armed by mistake removes the rig before it ends.
 */
const noReaperLeft = async (name: string) => {
  const alive = async () => (await execa('pgrep', ['-f', `reaper\\.js ${name}( |$)`], { reject: false })).stdout.trim() !== '';
  expect(await eventually(async () => !(await alive()), 60_000, 50)).toBe(true);
};

describe('an interrupt at any instant of up removes exactly what exists and exits 130', () => {
  // Before Node has run rig's code, the default action ends the process by the signal itself (a shell says 130).
  const interrupted = (end: { code: number | null; signal: NodeJS.Signals | null }, signal: NodeJS.Signals) =>
    end.code === 130 || (end.code === null && end.signal === signal);

  // Each phase as up's progress says it begins (the kill comes a few milliseconds into it, whatever the machine's
  // speed); "at once" is before Node has run rig's code.
  for (const [phase, line, signal] of [
    ['at once', undefined, 'SIGINT'],
    ['while it checks the rig', /❯ .*Check the rig/, 'SIGINT'],
    ['while it creates the network', /❯ .*Create the rig network$/m, 'SIGINT'],
    ['once the network is made', /› .*Create the rig network: /, 'SIGTERM'],
    ['as the sidecar and nodes start', /❯ .*Start dnsmasq/, 'SIGINT'],
    // A node whose agent publishes its address at once may pass `created` before the host's watch reads it.
    ['once a node is created', /› .*village\.test: (created|addressed)/, 'SIGINT'],
    ['once the sidecar serves', /› .*dnsmasq and etcd: DNS/, 'SIGTERM'],
    ['once a node has its address', /› .*village\.test: addressed/, 'SIGINT'],
  ] as const) {
    it(`${signal} ${phase}, in a 6-node up`, async () => {
      const { name, dir } = newRig('intr', sixNodes);
      const up = spawnRig(['up', 'rig.yaml', '--name', name], dir);
      if (line) expect(await printed(up, line), up.output()).toBe(true);
      up.child.kill(signal);
      const end = await ended(up, 60_000);
      expect(interrupted(end, signal), `exit ${end.code} ${end.signal}:\n${up.output()}`).toBe(true);
      await expectNothingLeft(name, dir, sixNodes);
    });
  }
});

describe('an interrupt of an up of LXC nodes', () => {
  const lxcNodes = sixNodes.slice(0, 3);
  for (const [phase, line, signal] of [
    ['as the nodes start', /❯ .*Start dnsmasq/, 'SIGINT'],
    // A node whose agent publishes its address at once may pass `created` before the host's watch reads it.
    ['once a node is created', /› .*village\.test: (created|addressed)/, 'SIGTERM'],
  ] as const) {
    it(`${signal} ${phase} removes every LXC container, veth and link it made`, async () => {
      const { name, dir } = newRig('intrlxc', lxcNodes, undefined, 'backend: lxc');
      const up = spawnRig(['up', 'rig.yaml', '--name', name], dir);
      expect(await printed(up, line), up.output()).toBe(true);
      up.child.kill(signal);
      const end = await ended(up, 60_000);
      expect(end.code === 130 || end.signal === signal, `exit ${end.code} ${end.signal}:\n${up.output()}`).toBe(true);
      await expectNothingLeft(name, dir, lxcNodes);
      const lxc = (await execa('lxc-ls', ['-P', '/var/lib/lxc', '-1'])).stdout.split('\n');
      expect(lxc.filter((c) => c.startsWith(containerName(name, '')))).toEqual([]);
    });
  }
});

describe('arguments are checked before anything is armed or made', () => {
  it('a bad --timeout is exit 2 for up and run, and a rig of that name stays whole', async () => {
    const { name, dir } = newRig('badarg', twoNodes);
    const first = await rig(['up', 'rig.yaml', '--name', name], { cwd: dir });
    expect(first.exitCode, first.all).toBe(0);
    for (const [args, says] of [
      [['up', 'rig.yaml', '--name', name, '--timeout', 'abc'], /--timeout "abc" is not a duration/],
      [['run', 'rig.yaml', '--name', name, '--timeout', '5x', '--', 'true'], /--timeout "5x" is not a duration/],
      [['run', 'rig.yaml', '--name', name, '--on', 'nosuch', '--', 'true'], /No node nosuch/],
    ] as const) {
      const bad = await rig([...args], { cwd: dir });
      expect(bad.exitCode, bad.all).toBe(2);
      expect(bad.stderr).toMatch(says);
    }
    await noReaperLeft(name);
    await expectWhole(name, twoNodes);
  });
});

describe('two ups of one name at once', () => {
  it('exactly one wins; the other exits 2 and leaves the winner whole', async () => {
    for (let round = 0; round < 3; round++) {
      const { name, dir } = newRig('race', twoNodes);
      // Stopped as they start and let go together, so that they reach the engine at about the same moment.
      const ups = [0, 1, 2].map(() => spawnRig(['up', 'rig.yaml', '--name', name], dir));
      for (const up of ups) up.child.kill('SIGSTOP');
      const stopped = (pid: number) => / T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ')'));
      expect(await eventually(async () => ups.every((up) => stopped(up.child.pid!)), 10_000, 10)).toBe(true);
      for (const up of ups) up.child.kill('SIGCONT');
      const codes = (await Promise.all(ups.map((up) => ended(up, 120_000)))).map((end) => end.code);
      expect([...codes].sort(), ups.map((u) => u.output()).join('\n----\n')).toEqual([0, 2, 2]);
      for (const [i, loser] of ups.entries())
        if (codes[i] === 2) expect(loser.output()).toMatch(new RegExp(`rig named ${name} is already up`));
      await noReaperLeft(name); // a loser's, armed by mistake, would remove the winner's rig
      await expectWhole(name, twoNodes);
      expect(symlinksIn(join(dir, 'hieradata/nodes'))).toHaveLength(2);
    }
  });

  it('an up that finds the sidecar of another up of that name exits 2 and leaves it alone', async () => {
    // What the winner of a race has made first (its network aside): the sidecar container, which claims the name.
    const { name, dir } = newRig('claim', twoNodes);
    const image = (await docker(['images', '--filter', 'label=io.rig.image=base', '--format', '{{.ID}}'])).split('\n')[0];
    const sidecar = containerName(name, SIDECAR);
    await docker(['create', '--name', sidecar, '--label', `io.rig.rig=${name}`, '--label', 'io.rig.role=sidecar', image, '/bin/true']);
    const up = await rig(['up', 'rig.yaml', '--name', name], { cwd: dir });
    expect(up.exitCode, up.all).toBe(2);
    expect(up.stderr).toMatch(new RegExp(`rig named ${name} is already up`));
    expect(await leftovers(name)).toEqual([sidecar]);
    expect(symlinksIn(join(dir, 'hieradata/nodes'))).toEqual([]);
  });

  it("a container of that name that is not rig's is exit 2 before anything is made", async () => {
    const { name, dir } = newRig('clash', twoNodes);
    const image = (await docker(['images', '--filter', 'label=io.rig.image=base', '--format', '{{.ID}}'])).split('\n')[0];
    const foreign = containerName(name, 'mill');
    await docker(['create', '--name', foreign, image, '/bin/true']);
    cleanups.push(() => docker(['rm', '-f', foreign]).then(() => {}));
    const up = await rig(['up', 'rig.yaml', '--name', name], { cwd: dir });
    expect(up.exitCode, up.all).toBe(2);
    expect(up.stderr).toContain(foreign);
    expect(await leftovers(name)).toEqual([]);
    expect((await docker(['ps', '-a', '--filter', `name=^${foreign}$`, '--format', '{{.Names}}'])).trim()).toBe(foreign);
  });
});

describe('every wait of up has a deadline', () => {
  /**
   * `rig up` of a 2-node rig whose sidecar is frozen as soon as it starts, before it serves the rig bridge: no node is
   * wired yet, and up waits on a sidecar that does not answer. The pause is sent on the engine's start event; the
   * freezer may refuse while the container's processes are still being set up, so it is sent again until it holds.
   * The sidecar serves the bridge a few tens of milliseconds after it starts, so the pause can still come too late
   * (its log then says the bridge is served, and nodes may be on it): that up is stopped and the scenario made
   * again, until the pause comes in time.
   */
  async function upWithSidecarPaused(prefix: string, args: string[]) {
    const engine = await connectDocker();
    for (let attempt = 1; ; attempt++) {
      const { name, dir } = newRig(prefix, twoNodes);
      const sidecar = containerName(name, SIDECAR);
      const events = (await engine.getEvents({ filters: { container: [sidecar], event: ['start'] } })) as NodeJS.ReadableStream & {
        destroy(): void;
      };
      const pauseOnce = () =>
        engine
          .getContainer(sidecar)
          .pause()
          .then(
            () => true,
            () => false,
          );
      const pauseUntilHeld = async () => {
        for (let tries = 0; tries < 200; tries++) {
          if (await pauseOnce()) return true;
          await sleep(5);
        }
        return false;
      };
      const paused = new Promise<boolean>((resolve) => events.once('data', () => resolve(pauseUntilHeld())));
      const up = spawnRig(['up', 'rig.yaml', '--name', name, ...args], dir);
      const held = await Promise.race([paused, up.exited.then(() => false)]);
      events.destroy();
      expect(held, up.output()).toBe(true);
      const log = await execa('docker', ['logs', sidecar], { all: true, reject: false });
      if (!/eth0 has the rig's addresses/.test(log.all ?? '')) return { name, dir, up };
      expect(attempt, `the sidecar served the rig bridge before every pause of ${attempt}`).toBeLessThan(8);
      up.child.kill('SIGTERM');
      expect((await ended(up, 60_000)).code, up.output()).toBe(130);
      await expectNothingLeft(name, dir, twoNodes);
    }
  }

  it('a paused sidecar ends up by its --timeout with exit 4, and removes the rig', async () => {
    const { name, dir, up } = await upWithSidecarPaused('pause', ['--timeout', '10s']);
    const end = await ended(up, 120_000);
    expect(end.code, up.output()).toBe(4);
    expect(up.output()).toMatch(/did not answer/);
    await expectNothingLeft(name, dir, twoNodes);
  });

  it('SIGTERM ends an up whose sidecar is paused', async () => {
    // Once the pause holds, up is waiting on the sidecar (it cannot get past it).
    const { name, dir, up } = await upWithSidecarPaused('pauseterm', []);
    up.child.kill('SIGTERM');
    const end = await ended(up, 60_000);
    expect(end.code, up.output()).toBe(130);
    await expectNothingLeft(name, dir, twoNodes);
  });

  it('an explicit subnet behind a host route is exit 2 before anything is made', async () => {
    // A bridge with nothing on it (this kernel has no dummy interfaces): the route keeps the traffic on the host.
    const dummy = `rigtd${process.pid % 100000}`;
    const third = 100 + Math.floor(Math.random() * 100);
    await execa('ip', ['link', 'add', dummy, 'type', 'bridge']);
    cleanups.push(() =>
      execa('ip', ['link', 'del', dummy]).then(
        () => {},
        () => {},
      ),
    );
    await execa('ip', ['link', 'set', dummy, 'up']);
    await execa('ip', ['route', 'add', `10.252.${third}.0/24`, 'dev', dummy]); // goes with the interface
    const { name, dir } = newRig('route', twoNodes, `internal: true, subnet: 10.252.${third}.0/25`);
    const up = await rig(['up', 'rig.yaml', '--name', name], { cwd: dir });
    expect(up.exitCode, up.all).toBe(2);
    expect(up.stderr).toContain(`10.252.${third}.0/24`);
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('rig run killed by SIGKILL', () => {
  it('ends its host command with the rig', async () => {
    const { name, dir } = newRig('runkill', twoNodes);
    const marker = `3000.${Math.floor(Math.random() * 1e6)}`;
    const run = spawnRig(['run', 'rig.yaml', '--name', name, '--', 'sh', '-c', `sleep ${marker}; echo never`], dir);
    // Once rig is dead, any process whose command line holds the marker is the command (sh) or its child (sleep).
    const withMarker = async (pattern: string) => (await execa('pgrep', ['-f', pattern], { reject: false })).stdout.trim() !== '';
    cleanups.push(() => execa('pkill', ['-f', marker.replace('.', '\\.')], { reject: false }).then(() => {}));
    expect(await eventually(() => withMarker(`^sleep ${marker}`), 120_000), run.output()).toBe(true);
    run.child.kill('SIGKILL');
    await run.exited;
    expect(await eventually(async () => !(await withMarker(marker)), 30_000)).toBe(true);
    expect(await eventually(async () => (await leftovers(name)).length === 0, 30_000)).toBe(true);
  });
});

describe('an interrupt once the rig is ready', () => {
  it('rig run passes SIGINT on to its command, takes the rig down and exits 130', async () => {
    const { name, dir } = newRig('runint', twoNodes);
    const marker = `3000.${Math.floor(Math.random() * 1e6)}`;
    const run = spawnRig(['run', 'rig.yaml', '--name', name, '--', 'sh', '-c', `sleep ${marker}; echo never`], dir);
    const withMarker = async (pattern: string) => (await execa('pgrep', ['-f', pattern], { reject: false })).stdout.trim() !== '';
    cleanups.push(() => execa('pkill', ['-f', `^sleep ${marker.replace('.', '\\.')}`], { reject: false }).then(() => {}));
    expect(await eventually(() => withMarker(`^sleep ${marker}`), 120_000), run.output()).toBe(true);
    run.child.kill('SIGINT');
    const end = await ended(run, 60_000);
    expect(end.code, run.output()).toBe(130);
    expect(run.output()).not.toContain('never');
    expect(await eventually(async () => !(await withMarker(`^sleep ${marker}`)), 5000)).toBe(true);
    await expectNothingLeft(name, dir, twoNodes);
  });
});
