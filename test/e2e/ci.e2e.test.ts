import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse } from 'junit2json';
import { docker, eventually, fixtureDir, leftovers, rig, rigBin, uniqueName, vethsLeft } from './helpers.js';

const rigFile = (extra = '') => `
domain: village.test
network:
  internal: true
configs:
  - dir: hieradata/nodes
nodes:
  barn.village.test: straleb.prod.example
  mill.village.test:
    mirrors: kelda.prod.example
    validate:
      - test "$(hostname)" = mill
      - rig-fact get barn ipaddress
${extra}`;

describe('rig run', () => {
  const fixture = fixtureDir(rigFile());
  afterAll(() => fixture.cleanup());

  it('runs the command with the rig in its environment, returns its exit code 0, and leaves nothing', async () => {
    const name = uniqueName('run0');
    const out = join(fixture.dir, 'env.txt');
    const run = await rig(['run', 'rig.yaml', '--name', name, '--', 'sh', '-c', `env | grep ^RIG_ | sort > ${out}`], { cwd: fixture.dir });
    expect(run.exitCode, run.all).toBe(0);
    const env = Object.fromEntries(
      readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    );
    expect(env.RIG_NAME).toBe(name);
    expect(env.RIG_NODES).toBe('barn.village.test mill.village.test');
    expect(env.RIG_BARN_FQDN).toBe('barn.village.test');
    const subnet = env.RIG_SUBNET.split('.').slice(0, 3).join('.');
    expect(env.RIG_BARN_IP.startsWith(subnet + '.')).toBe(true);
    expect(env.RIG_MILL_IP.startsWith(subnet + '.')).toBe(true);
    expect(env.RIG_DNS).toBe(`${subnet}.2`);
    expect(env.RIG_ETCD).toBe(`http://${subnet}.3:2379`);
    expect(await leftovers(name)).toEqual([]);
  });

  it("returns a failing command's exit code and still takes the rig down", async () => {
    const name = uniqueName('run7');
    const run = await rig(['run', 'rig.yaml', '--name', name, '--', 'sh', '-c', 'exit 7'], { cwd: fixture.dir });
    expect(run.exitCode).toBe(7);
    expect(await leftovers(name)).toEqual([]);
  });

  it('runs a command inside a node with --on', async () => {
    const name = uniqueName('runon');
    const run = await rig(['run', 'rig.yaml', '--name', name, '--on', 'mill', '--', 'sh', '-c', 'echo "I am $(hostname)"; exit 3'], {
      cwd: fixture.dir,
    });
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toContain('I am mill');
    expect(await leftovers(name)).toEqual([]);
  });

  it('keeps the rig when the command fails with --keep-on-failure, and says how to remove it', async () => {
    const name = uniqueName('runkeep');
    const run = await rig(['run', 'rig.yaml', '--name', name, '--keep-on-failure', '--', 'false'], { cwd: fixture.dir });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`rig down --name ${name}`);
    expect(await leftovers(name)).not.toEqual([]);
    expect((await rig(['down', '--name', name])).exitCode).toBe(0);
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('rig test', () => {
  it("runs each node's validations inside it and writes JUnit XML a JUnit parser reads, with the failure reported", async () => {
    const name = uniqueName('test');
    const fixture = fixtureDir(rigFile('  well.village.test:\n    validate: ["echo well is broken >&2; exit 4"]\n'));
    try {
      const run = await rig(['run', 'rig.yaml', '--name', name, '--test', '--junit', 'report.xml'], { cwd: fixture.dir });
      expect(run.exitCode, run.all).toBe(1);
      expect(run.stdout).toMatch(/mill\.village\.test\s+rig-fact get barn ipaddress\s+pass/);
      expect(run.stdout).toContain('2 passed, 1 failed');
      const report = (await parse(readFileSync(join(fixture.dir, 'report.xml'), 'utf8'))) as {
        tests: number;
        failures: number;
        testsuite: Array<{ testcase: Array<{ classname: string; name: string; failure?: Array<{ message: string; inner: string }> }> }>;
      };
      expect(report.tests).toBe(3);
      expect(report.failures).toBe(1);
      const cases = report.testsuite[0].testcase;
      expect(cases.map((c) => [c.classname, c.name, !!c.failure])).toEqual([
        ['mill.village.test', 'test "$(hostname)" = mill', false],
        ['mill.village.test', 'rig-fact get barn ipaddress', false],
        ['well.village.test', 'echo well is broken >&2; exit 4', true],
      ]);
      expect(cases[2].failure![0].message).toBe('exited 4');
      expect(cases[2].failure![0].inner).toContain('well is broken');
      expect(await leftovers(name)).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });

  it('tests a rig that is up by name alone, without the rig file', async () => {
    const name = uniqueName('testname');
    const fixture = fixtureDir(rigFile());
    try {
      expect((await rig(['up', 'rig.yaml', '--name', name], { cwd: fixture.dir })).exitCode).toBe(0);
      const test = await rig(['test', '--name', name]);
      expect(test.exitCode, test.all).toBe(0);
      expect(test.stdout).toContain('2 passed, 0 failed');
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });
});

describe('crash-safe cleanup', () => {
  // A node that takes a while to provision, so `up` is surely mid-way when it is killed.
  const slow = '  well.village.test:\n    provision:\n      - shell: sleep 30\n';
  const threeNodes = ['barn.village.test', 'mill.village.test', 'well.village.test'];

  async function upUntilProvisioning(name: string, dir: string) {
    const child = execa('node', [rigBin, 'up', 'rig.yaml', '--name', name], { cwd: dir, env: { CI: 'true' }, reject: false, all: true });
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`up never reached provisioning:\n${seen}`)), 120_000);
      void child.then((r) => reject(new Error(`up ended (exit ${r.exitCode}) before provisioning:\n${seen}`)));
      child.all!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('provisioning 1/1')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return { child }; // wrapped: the subprocess is a promise itself, and returning it bare would wait for it
  }

  it('removes everything within 30 s when rig up is killed with SIGKILL', async () => {
    const name = uniqueName('kill');
    const fixture = fixtureDir(rigFile(slow));
    try {
      const { child } = await upUntilProvisioning(name, fixture.dir);
      expect(await leftovers(name)).not.toEqual([]);
      child.kill('SIGKILL');
      await child;
      expect(await eventually(async () => (await leftovers(name)).length === 0, 30_000)).toBe(true);
      expect(await vethsLeft(name, threeNodes)).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });

  it('removes what it made on Ctrl-C (SIGINT) and exits 130', async () => {
    const name = uniqueName('int');
    const fixture = fixtureDir(rigFile(slow));
    try {
      const { child } = await upUntilProvisioning(name, fixture.dir);
      child.kill('SIGINT');
      const result = await child;
      expect(result.exitCode).toBe(130);
      expect(await leftovers(name)).toEqual([]);
      expect(await vethsLeft(name, threeNodes)).toEqual([]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
  });

  it('rig gc leaves a rig that up finished (gc.e2e: it removes one whose up and reaper died)', async () => {
    const kept = uniqueName('gckeep');
    const fixture = fixtureDir(rigFile());
    try {
      expect((await rig(['up', 'rig.yaml', '--name', kept], { cwd: fixture.dir })).exitCode).toBe(0);
      const gc = await rig(['gc']);
      expect(gc.exitCode).toBe(0);
      expect(gc.stdout).not.toContain(kept);
      expect(await leftovers(kept)).not.toEqual([]);
    } finally {
      await rig(['down', '--name', kept]);
      fixture.cleanup();
    }
  });
});

describe('two rigs of one rig file at once', () => {
  it('come up side by side, each seeing only its own nodes, and go down independently', async () => {
    const [a, b] = [uniqueName('twina'), uniqueName('twinb')];
    const fixture = fixtureDir(rigFile());
    try {
      const ups = await Promise.all([a, b].map((name) => rig(['up', 'rig.yaml', '--name', name], { cwd: fixture.dir })));
      expect(
        ups.map((u) => u.exitCode),
        ups.map((u) => u.all).join('\n'),
      ).toEqual([0, 0]);
      const status = async (name: string) => JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
      const [sa, sb] = [await status(a), await status(b)];
      expect(sa.subnet).not.toBe(sb.subnet);
      for (const s of [sa, sb]) {
        expect(s.nodes.map((n: { fqdn: string; stage: string }) => [n.fqdn, n.stage])).toEqual([
          ['barn.village.test', 'ready'],
          ['mill.village.test', 'ready'],
        ]);
      }
      // Each rig's mill resolves barn to its own rig's barn, and reads its own rig's facts.
      for (const [name, s] of [
        [a, sa],
        [b, sb],
      ] as const) {
        const resolved = await docker(['exec', `rig-${name}.mill`, '/.rig/bin/sh', '-c', '/.rig/bin/nslookup -type=a barn; true']);
        expect(resolved).toContain(`Address: ${s.nodes[0].ip}`);
        const fact = await docker(['exec', `rig-${name}.mill`, '/.rig/bin/rig-fact', 'get', 'barn', 'ipaddress']);
        expect(fact.trim()).toBe(s.nodes[0].ip);
      }
      expect((await rig(['down', '--name', a])).exitCode).toBe(0);
      expect(await leftovers(a)).toEqual([]);
      const after = await status(b);
      expect(after.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready']);
      expect((await rig(['test', '--name', b])).exitCode).toBe(0);
    } finally {
      await rig(['down', '--name', a]);
      await rig(['down', '--name', b]);
      fixture.cleanup();
    }
  });
});

describe('rig doctor', () => {
  it('checks the host and passes here, naming each check', async () => {
    const doctor = await rig(['doctor', '--json']);
    expect(doctor.exitCode, doctor.all).toBe(0);
    const checks = JSON.parse(doctor.stdout) as Array<{ name: string; ok: boolean; required: boolean }>;
    expect(checks.filter((c) => c.required && !c.ok)).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['Docker engine', 'veth support', 'nftables port security', 'debootstrap', 'LXC', 'free subnets']),
    );
  });

  it('fails with a fix when the engine is missing', async () => {
    const doctor = await rig(['doctor'], { env: { DOCKER_HOST: 'unix:///tmp/rig-no-such-docker.sock' } });
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(/✖ Docker engine: No Docker engine answers/);
    expect(doctor.stdout).toContain('fix:');
  });
});
