import { afterAll, beforeAll, expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { rigBin } from './helpers.js';
import { LxdClient } from '../../src/runtime/lxd/api.js';
import { localSocket } from '../../src/runtime/lxd/transport.js';
import { deleteNetwork } from '../../src/runtime/lxd/networks.js';
import { lxdNetworkName } from '../../src/plan/plan.js';

/**
 * A three-member LXD cluster in network namespaces of this machine (scripts/lxd-test-cluster), for a test file whose
 * rig is on it, as a remote of the lxc client named `clu` (lxd: { remote: clu }). The real CLI runs from inside
 * member m2's namespace (from the host's own, outbound TLS is intercepted here). Its members see this host's files,
 * which a rig on a remote needs for now (RIG_LXD_SHARED_FILES=1: docs/multi-host.md; a file may leave it unsaid).
 * After the file, whatever the rig left (a failed down) is removed, then the cluster.
 */
const root = resolve(import.meta.dirname, '../..');
export const CACHE = '/var/cache/rig';
const script = join(root, 'scripts', 'lxd-test-cluster');

export interface TestCluster {
  /** The first member's own socket: the test's view of the cluster. */
  client: () => LxdClient;
  /** The real CLI, from inside member m2, in `cwd` (else the rig file's directory). */
  fromMember: (args: string[], options?: { timeout?: number; cwd?: string }) => Promise<{ exitCode?: number; all: string; stdout: string }>;
  /** The instances of a rig (the file's, unless named) on any member. */
  rigInstances: (name?: string) => ReturnType<LxdClient['rigInstances']>;
  /** The lxc client's config directory the CLI is given (LXD_CONF). */
  lxcConf: () => string;
  /** Where the members' state is: <lxdRoot>/<member>/ (lxd.pid, holder.pid, lxd/). */
  lxdRoot: string;
}

export interface TestClusterOptions {
  /** Whether the CLI is told the members see this host's files (RIG_LXD_SHARED_FILES=1), as a rig on a remote needs. */
  sharedFiles?: boolean;
  /** More remotes of the lxc client, by name: their addresses (with the cluster's certificate pinned). */
  remotes?: Record<string, string>;
}

/**
 * `tag`: this file's own cluster (files run side by side); `rig`: the rig made on it, removed after the file if it
 * is left; `dir`: its rig file's directory.
 */
export function useTestCluster(
  tag: string,
  rig: string | undefined,
  dir: string,
  { sharedFiles = true, remotes = {} }: TestClusterOptions = {},
): TestCluster {
  const lxdRoot = `/tmp/rig-lxd-${tag}`;
  const env = { RIG_LXD_TAG: tag };
  const holderOf = (member: string) => readFileSync(join(lxdRoot, member, 'holder.pid'), 'utf8').trim();
  let client: LxdClient | undefined;
  let conf = '';
  let trusted: string | undefined;

  const fromMember: TestCluster['fromMember'] = async (args, { timeout = 300_000, cwd } = {}) => {
    const run = await execa('nsenter', ['-n', '-t', holderOf('m2'), process.execPath, rigBin, ...args], {
      cwd: cwd ?? (existsSync(dir) ? dir : tmpdir()), // the rig file's, unless its fixture is cleaned up already
      env: { CI: 'true', LXD_CONF: conf, ...(sharedFiles ? { RIG_LXD_SHARED_FILES: '1' } : {}) },
      reject: false,
      all: true,
      timeout,
    });
    return { exitCode: run.exitCode, all: String(run.all), stdout: String(run.stdout) };
  };

  beforeAll(async () => {
    await execa(script, ['up', '3'], { timeout: 180_000, env });
    client = LxdClient.connect({ socket: localSocket(join(lxdRoot, 'm1', 'lxd')) });
    conf = mkdtempSync(join(tmpdir(), 'rig-lxc-conf-'));
    await execa('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=rig-e2e', '-days', '1'],
      ...['-keyout', join(conf, 'client.key'), '-out', join(conf, 'client.crt')],
    ]);
    trusted = await client.trust(readFileSync(join(conf, 'client.crt'), 'utf8'), `rig-e2e-${tag}`);
    mkdirSync(join(conf, 'servercerts'));
    const all = { clu: 'https://100.64.77.101:8443', ...remotes };
    for (const remote of Object.keys(all))
      writeFileSync(join(conf, 'servercerts', `${remote}.crt`), readFileSync(join(lxdRoot, 'm1', 'lxd', 'cluster.crt')));
    writeFileSync(
      join(conf, 'config.yml'),
      [
        'default-remote: local',
        'remotes:',
        ...Object.entries(all).map(([remote, addr]) => `  ${remote}: { addr: "${addr}", auth_type: tls, protocol: lxd, public: false }`),
        '',
      ].join('\n'),
    );
  }, 300_000);

  afterAll(async () => {
    const rigInstances = async () => (client && rig ? client.rigInstances(rig) : []);
    const steps = [
      () => client && rig && fromMember(['down', '--name', rig]),
      // what a failed down left: the rig's instances and network on any member, its state and records on this host
      async () => client && Promise.all((await rigInstances()).map((i) => client!.setState(i.name, 'stop', true).catch(() => {}))),
      async () => client && Promise.all((await rigInstances()).map((i) => client!.deleteInstance(i.name))),
      () => client && rig && deleteNetwork(client, lxdNetworkName(rig)),
      () => client && trusted && client.untrust(trusted),
      () => execa(script, ['down'], { timeout: 180_000, env }),
    ];
    for (const step of steps) await Promise.resolve(step()).catch((err: unknown) => console.error(`lxd cluster ${tag} cleanup:`, err));
    if (rig) {
      rmSync(join(CACHE, 'lxd-places', `${rig}.json`), { force: true });
      for (const state of existsSync('/dev/shm/rig') ? readdirSync('/dev/shm/rig') : [])
        if (state.startsWith(`${rig}.`)) rmSync(join('/dev/shm/rig', state), { recursive: true, force: true });
    }
    if (conf) rmSync(conf, { recursive: true, force: true });
    expect(existsSync(lxdRoot)).toBe(false);
  }, 400_000);

  const instancesOf = (name = rig) => {
    if (!name) throw new Error('useTestCluster: no rig named');
    return client!.rigInstances(name);
  };
  return { client: () => client!, fromMember, rigInstances: instancesOf, lxcConf: () => conf, lxdRoot };
}
