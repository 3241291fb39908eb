import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eventually, leftovers, rig, snapshot, uniqueName } from './helpers.js';

// The choreography example (rigs/shop), in a copy of its own so the repo is never touched: its two stories, driven
// through the CLI as the README tells a user to, each state checked by the example's own `rig test`.
describe('the shop example: nodes that react to each other while the rig runs', () => {
  const name = uniqueName('shop');
  const dir = mkdtempSync(join(tmpdir(), 'rig-shop-'));
  cpSync(resolve(import.meta.dirname, '../../rigs/shop'), dir, { recursive: true });
  const before = snapshot(dir);
  const shopPage = readFileSync(join(dir, 'control-repo/web/site/index.html'), 'utf8').trim();
  const holdingPage = readFileSync(join(dir, 'control-repo/web/holding/index.html'), 'utf8').trim();

  const exec = (node: string, ...command: string[]) => rig(['exec', node, '--name', name, '--', ...command]);
  const fact = async (node: string, key: string) => (await rig(['facts', node, key, '--name', name])).stdout.trim();
  const stages = async () =>
    Object.fromEntries(
      (JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0].nodes as Array<{ name: string; stage: string }>).map((n) => [
        n.name,
        n.stage,
      ]),
    );
  // The page as a customer gets it: from another node, over the rig's network, by name.
  const page = async () => (await exec('db2', '/.rig/bin/wget', '-q', '-O', '-', 'http://web/')).stdout;
  const test = async () => {
    const run = await rig(['test', '--name', name]);
    return { ...run, passed: run.exitCode === 0 && run.stdout.includes('3 passed, 0 failed') };
  };
  const announce = (value: string) => exec('db1', '/.rig/bin/rig-fact', 'set', 'maintenance', value);
  // Done when web has published what its reaction made of it and is ready again (the reaction over).
  const webSettles = (key: string, value: string) =>
    eventually(async () => (await fact('web', key)) === value && (await stages()).web === 'ready', 30_000, 300);

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml', '--name', name], { cwd: dir });
    expect(up.exitCode, up.all).toBe(0);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('comes up with db1 the master, db2 its replica through db1 published facts, and the app on db1', async () => {
    expect(await stages()).toEqual({ db1: 'ready', db2: 'ready', web: 'ready' });
    const replication = (await exec('db2', 'redis-cli', 'info', 'replication')).stdout;
    expect(replication).toContain('role:slave');
    expect(replication).toContain(`master_host:${await fact('db1', 'ipaddress')}`);
    expect(replication).toContain('master_link_status:up');
    expect((await exec('web', 'cat', '/etc/shop/app.conf')).stdout).toContain('redis_host=db1');
    expect(await page()).toBe(shopPage);
    const run = await test();
    expect(run.passed, run.all).toBe(true);
  });

  it('has a control repo with nothing rig-specific in it', () => {
    const files = (readdirSync(join(dir, 'control-repo'), { recursive: true }) as string[]).filter((f) =>
      statSync(join(dir, 'control-repo', f)).isFile(),
    );
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      expect(readFileSync(join(dir, 'control-repo', f), 'utf8'), f).not.toMatch(/\brig\b|rig-fact|shop\.test|\/\.rig|RIG_/);
    }
  });

  it('serves the holding page while db1 announces maintenance, and the shop again when it ends', async () => {
    expect((await announce('true')).exitCode).toBe(0);
    expect(await webSettles('page', 'holding')).toBe(true);
    expect(await page()).toBe(holdingPage);
    const during = await test();
    expect(during.passed, during.all).toBe(true);

    expect((await announce('false')).exitCode).toBe(0);
    expect(await webSettles('page', 'live')).toBe(true);
    expect(await page()).toBe(shopPage);
    const after = await test();
    expect(after.passed, after.all).toBe(true);
    const log = (await rig(['logs', 'web', '--name', name])).stdout;
    expect(log).toContain('reacting to db1.maintenance (now: true)');
    expect(log).toContain('reacting to db1.maintenance (now: false)');
  });

  it("rig test fails when the page is not the one db1's maintenance calls for", async () => {
    expect((await exec('web', 'sh', '/.rig-repo/control-repo/web/bin/site', 'holding')).exitCode).toBe(0);
    const wrong = await test();
    expect(wrong.exitCode).toBe(1);
    expect(wrong.all).toContain('db1 says maintenance=false, so the page should be control-repo/web/site/index.html');
    expect((await exec('web', 'sh', '/.rig-repo/control-repo/web/bin/site', 'live')).exitCode).toBe(0);
  });

  it('fails over when db1 is killed: db2 promotes itself, the app follows it, with the data written before', async () => {
    // An order written through the app's redis, acknowledged by the replica (WAIT 1) before the crash.
    const written = await exec('web', 'sh', '-c', "printf 'SET shop:order 42\\nWAIT 1 10000\\n' | redis-cli -h db1");
    expect(written.stdout.split('\n')).toEqual(['OK', '1']);
    expect(await fact('web', 'redis_master')).toBe('db1');

    const kill = await rig(['kill', 'db1', '--name', name]);
    expect(kill.exitCode, kill.all).toBe(0);
    expect(await eventually(async () => (await fact('db2', 'redis_role')) === 'master', 30_000, 300)).toBe(true);
    expect(await webSettles('redis_master', 'db2')).toBe(true);

    expect((await stages()).db1).toBe('stopped');
    expect((await exec('db2', 'redis-cli', 'info', 'replication')).stdout).toContain('role:master');
    expect((await exec('web', 'cat', '/etc/shop/app.conf')).stdout).toContain('redis_host=db2');
    expect((await exec('web', 'redis-cli', '-h', 'db2', 'get', 'shop:order')).stdout.trim()).toBe('42');
    expect((await rig(['logs', 'db2', '--name', name])).stdout).toContain('reacting to db1.stage (now: lost)');
    const run = await test();
    expect(run.passed, run.all).toBe(true);
  });

  it("comes down leaving nothing, the example's files as they were", async () => {
    expect((await rig(['down', '--name', name])).exitCode).toBe(0);
    expect(await leftovers(name)).toEqual([]);
    expect(snapshot(dir)).toEqual(before);
  });
});
