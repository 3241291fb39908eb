import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa, type ResultPromise } from 'execa';

// rig's Hiera 5 backend for etcd (puppet/modules/rig) in the rig:puppet image, against a real etcd: a throwaway etcd
// from the sidecar image and a puppet container on an internal network of their own, no rig around them. Keys are
// put through etcd's JSON gateway from inside the etcd container (the sidecar image has busybox but no etcdctl).

const root = resolve(import.meta.dirname, '../..');
const prefix = `puppettest-${process.pid % 100000}-${Math.floor(Math.random() * 1000)}`;
const network = prefix;
const etcd = `${prefix}-etcd`;
const node = `${prefix}-node`;
const rigName = 'village';
const controlRepo = '/etc/rig-control-repo';

const made = { containers: [] as string[], networks: [] as string[], dirs: [] as string[], procs: [] as ResultPromise[] };

const docker = async (args: string[]) => (await execa('docker', args)).stdout.trim();
const b64 = (s: string) => Buffer.from(s).toString('base64');
const etcdGet = async (path: string) => docker(['exec', etcd, 'busybox', 'wget', '-qO-', `http://127.0.0.1:2379${path}`]);

/** Put a key as a peer node would: one write to etcd, from outside the puppet container. */
async function put(key: string, value: string): Promise<void> {
  const body = JSON.stringify({ key: b64(key), value: b64(value) });
  await docker(['exec', etcd, 'busybox', 'wget', '-qO-', '--post-data', body, 'http://127.0.0.1:2379/v3/kv/put']);
}
const fact = (fqdn: string, name: string) => `/rig/${rigName}/nodes/${fqdn}/facts/${name}`;
const stage = (fqdn: string) => `/rig/${rigName}/nodes/${fqdn}/stage`;

/** etcd's own counters: open watchers, and range reads served (a polling client would drive these up). */
async function metrics(): Promise<{ watchers: number; ranges: number }> {
  const text = await etcdGet('/metrics');
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { watchers: value('etcd_debugging_mvcc_watcher_total'), ranges: value('etcd_mvcc_range_total') };
}

function puppetApply(hiera: string, manifest: string, options: { extra?: string[]; env?: string[] } = {}) {
  const proc = execa(
    'docker',
    [
      'exec',
      ...(options.env ?? []).flatMap((e) => ['-e', e]),
      node,
      'puppet',
      'apply',
      '--color',
      'false',
      '--modulepath',
      '/etc/rig-puppet/modules',
      '--hiera_config',
      `${controlRepo}/${hiera}`,
      ...(options.extra ?? []),
      '-e',
      manifest,
    ],
    { reject: false, all: true, timeout: 120_000 },
  );
  made.procs.push(proc);
  return proc;
}

const hieraLevel = (options: string) =>
  `---\nversion: 5\nhierarchy:\n  - name: "rig facts"\n    lookup_key: rig::etcd_lookup_key\n    options: ${options}\n`;

describe('Hiera backend rig::etcd_lookup_key in the puppet image, against a real etcd', () => {
  beforeAll(async () => {
    const build = await execa('node', [join(root, 'bin', 'rig'), 'images', 'build'], {
      cwd: root,
      reject: false,
      all: true,
      env: { CI: 'true' },
    });
    expect(build.exitCode, build.all).toBe(0);
    const ref = (name: string) => {
      const found = new RegExp(`^(rig/${name}:[0-9a-f]+) `, 'm').exec(build.stdout)?.[1];
      if (!found) throw new Error(`rig images build named no ${name} image:\n${build.all}`);
      return found;
    };

    // A control repo: the shipped hiera.yaml, the live node's data and the link rig would make for barn.
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    made.dirs.push(dir);
    mkdirSync(join(dir, 'hieradata', 'nodes'), { recursive: true });
    copyFileSync(join(root, 'images', 'puppet', 'hiera.example.yaml'), join(dir, 'hiera.yaml'));
    copyFileSync(
      join(root, 'test', 'fixtures', 'village', 'hieradata', 'nodes', 'straleb.prod.example.yaml'),
      join(dir, 'hieradata', 'nodes', 'straleb.prod.example.yaml'),
    );
    symlinkSync('straleb.prod.example.yaml', join(dir, 'hieradata', 'nodes', 'barn.village.test.yaml'));
    writeFileSync(join(dir, 'nowait.yaml'), hieraLevel('{ wait: 0 }'));
    writeFileSync(join(dir, 'wait20.yaml'), hieraLevel('{ wait: 20 }'));
    writeFileSync(join(dir, 'wait3.yaml'), hieraLevel('{ wait: 3 }'));

    made.networks.push(network);
    await docker(['network', 'create', '--internal', network]);
    made.containers.push(etcd);
    await docker([
      'run',
      '-d',
      '--name',
      etcd,
      '--network',
      network,
      ref('sidecar'),
      'etcd',
      '--data-dir',
      '/tmp/etcd',
      '--listen-client-urls',
      'http://0.0.0.0:2379',
      '--advertise-client-urls',
      'http://127.0.0.1:2379',
    ]);
    const etcdIp = await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', etcd]);
    for (let i = 0; ; i++) {
      const health = await etcdGet('/health').catch(() => '');
      if (health.includes('"health":"true"')) break;
      if (i > 100) throw new Error(`etcd in ${etcd} is not healthy after 10 s: ${health}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    made.containers.push(node);
    await docker([
      'run',
      '-d',
      '--name',
      node,
      '--network',
      network,
      '-e',
      `RIG_NAME=${rigName}`,
      '-e',
      'RIG_NODE=barn.village.test',
      '-e',
      `RIG_ETCD=http://${etcdIp}:2379`,
      '-v',
      `${join(root, 'images', 'puppet')}:/etc/rig-puppet:ro`,
      '-v',
      `${dir}:${controlRepo}:ro`,
      ref('puppet'),
      'sleep',
      'infinity',
    ]);

    await put(fact('redis1.village.test', 'ipaddress'), '10.213.7.11');
    await put(stage('redis1.village.test'), 'provisioning 1/2');
    await put(fact('barn.village.test', 'ipaddress'), '10.213.7.10');
  }, 900_000);

  afterAll(async () => {
    for (const proc of made.procs) proc.kill();
    for (const c of made.containers.reverse()) await execa('docker', ['rm', '-f', c], { reject: false });
    for (const n of made.networks) await execa('docker', ['network', 'rm', n], { reject: false });
    for (const d of made.dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs Debian puppet 7 on Ruby 3', async () => {
    const version = await docker(['exec', node, 'sh', '-c', 'puppet --version; ruby --version']);
    expect(version).toMatch(/^7\.\d+\.\d+\nruby 3\./);
  });

  it('finds published facts with the shipped hiera.yaml, next to the live node data linked for the certname', async () => {
    const before = await metrics();
    const run = await puppetApply(
      'hiera.yaml',
      'notify { "role=${lookup("redis::role")} master=${lookup("rig::nodes::redis1::ipaddress")} ' +
        'again=${lookup("rig::nodes::redis1::ipaddress")} fqdn=${lookup(\'"rig::nodes::redis1.village.test::ipaddress"\')} ' +
        'self=${lookup("rig::self::ipaddress")}": }',
      { extra: ['--certname', 'barn.village.test'] },
    );
    expect(run.exitCode, run.all).toBe(0);
    // redis::role comes from hieradata/nodes/barn.village.test.yaml -> straleb.prod.example.yaml
    expect(run.stdout).toContain('Notice: role=master master=10.213.7.11 again=10.213.7.11 fqdn=10.213.7.11 self=10.213.7.10');
    // three distinct keys, three reads: the repeated lookup came from the lookup context's cache
    expect((await metrics()).ranges - before.ranges).toBe(3);
  });

  it('leaves a missing fact, an unknown node and keys outside rig:: to the lookup default', async () => {
    const run = await puppetApply(
      'nowait.yaml',
      'notify { "a=${lookup("rig::nodes::redis1::nope", undef, undef, "dflt1")} b=${lookup("rig::nodes::ghost::ipaddress", undef, undef, "dflt2")} ' +
        'c=${lookup("other::key", undef, undef, "dflt3")}": }',
    );
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toContain('Notice: a=dflt1 b=dflt2 c=dflt3');

    const missing = await puppetApply('nowait.yaml', 'notify { lookup("rig::nodes::redis1::nope"): }');
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain("did not find a value for the name 'rig::nodes::redis1::nope'");
  });

  it('explains an unquoted fqdn key, which Hiera splits at its dots', async () => {
    const run = await puppetApply('nowait.yaml', 'notify { lookup("rig::nodes::redis1.village.test::ipaddress"): }');
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain(`quote a key with an fqdn in it whole: lookup('"rig::nodes::redis1.village.test::ipaddress"')`);
  });

  it('waits for a fact with an etcd watch and wakes as soon as it is put', async () => {
    const key = fact('redis2.village.test', 'role');
    const start = performance.now();
    const lines: { at: number; line: string }[] = [];
    let waiting: () => void;
    const isWaiting = new Promise<void>((r) => (waiting = r));
    const run = puppetApply('wait20.yaml', 'notify { "late=${lookup("rig::nodes::redis2::role")}": }');
    let buffer = '';
    run.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push({ at: performance.now(), line });
        if (line.includes(`rig: waiting up to 20 s for ${key}, which redis2.village.test should publish`)) waiting();
      }
    });
    await Promise.race([isWaiting, run.then((r) => Promise.reject(new Error(`puppet ended before waiting:\n${r.all}`)))]);

    // While it waits: one watcher open in etcd, and no reads at all (no polling), even across an unrelated change.
    const during = await metrics();
    expect(during.watchers).toBe(1);
    await new Promise((r) => setTimeout(r, 1000));
    await put(stage('redis2.village.test'), 'provisioning 1/2'); // another key of the watched node: not the fact
    await new Promise((r) => setTimeout(r, 1000));
    expect((await metrics()).ranges).toBe(during.ranges);

    const putAt = performance.now();
    await put(key, 'replica');
    const putDone = performance.now();
    const result = await run;
    const exitAt = performance.now();

    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain('Notice: late=replica');
    const woke = lines.find((l) => l.line.includes(`rig: ${key} was published after`));
    expect(woke, result.all).toBeDefined();
    const wake = woke!.at - putAt;
    console.log(
      `puppet-hiera wait: put took ${(putDone - putAt).toFixed(0)} ms; lookup woke ${wake.toFixed(0)} ms after the put started; ` +
        `puppet exited ${(exitAt - putAt).toFixed(0)} ms after it; ${((exitAt - start) / 1000).toFixed(1)} s in all, of a 20 s wait`,
    );
    expect(wake).toBeLessThan(1500);
    expect(exitAt - putAt).toBeLessThan(5000);
    expect(exitAt - start).toBeLessThan(15_000);
    expect((await metrics()).watchers).toBe(0); // the watch ended with the lookup
  });

  it('times out naming the key, the node that should publish it and its stage', async () => {
    const start = performance.now();
    const run = await puppetApply('wait3.yaml', 'notify { lookup("rig::nodes::redis1::role"): }');
    const elapsed = performance.now() - start;
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain(
      'rig: timed out after 3 s waiting for /rig/village/nodes/redis1.village.test/facts/role, which redis1.village.test should publish (its stage: provisioning 1/2)',
    );
    expect(elapsed).toBeGreaterThanOrEqual(3000);
  });

  it('stops waiting when the node that should publish the fact fails', async () => {
    const run = puppetApply('wait20.yaml', 'notify { lookup("rig::nodes::redis3::role"): }');
    await new Promise<void>((resolveWait, reject) => {
      run.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('rig: waiting up to 20 s') && resolveWait());
      run.then((r) => reject(new Error(`puppet ended before waiting:\n${r.all}`)), reject);
    });
    const failedAt = performance.now();
    await put(stage('redis3.village.test'), 'failed: step 1/2 (shell) exited 1');
    const result = await run;
    expect(performance.now() - failedAt).toBeLessThan(5000);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('redis3.village.test, which should publish it, failed (its stage: failed: step 1/2 (shell) exited 1)');
  });

  it('says which etcd it cannot reach', async () => {
    const ip = await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', etcd]);
    const run = await puppetApply('nowait.yaml', 'notify { lookup("rig::nodes::redis1::ipaddress"): }', {
      env: [`RIG_ETCD=http://${ip}:2390`],
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain(`rig: cannot reach etcd at http://${ip}:2390`);
  });
});
