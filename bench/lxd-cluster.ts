// A rig of LXD nodes spread over the three members of an LXD cluster against the same rig on one member (issue 24).
// The cluster is scripts/lxd-test-cluster's: three LXD daemons of this machine, each in its own network namespace,
// so the members share this machine's cores: what the spread costs (a VXLAN bridge on every member, three daemons
// to ask), not what more machines would give.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LxdClient } from '../dist/runtime/lxd/api.js';
import { localSocket } from '../dist/runtime/lxd/transport.js';
import type { Ctx } from './context.js';
import { lxdRigFile } from './files.js';
import type { Options } from './options.js';
import { live, NODE, quiet, repo, RIG, run, type RunOptions } from './process.js';
import { ratio, round, roundN, stats, timed, type Maybe, type Stats } from './util.js';

export interface ClusterSpread {
  nodes: number;
  /** `rig up` with `lxd: { remote: clu }`: nodes placed over the three members */
  spread: Stats;
  /** `rig up` with `lxd: { remote: clu, target: m1 }`: every node on one member */
  oneMember: Stats;
  ratio: Maybe;
}

const script = join(repo, 'scripts', 'lxd-test-cluster');
const TAG = 'rbch'; // the bench's own test cluster, apart from the e2e tests' ones
const clusterEnv = { RIG_LXD_TAG: TAG };
const lxdRoot = `/tmp/rig-lxd-${TAG}`;
const CLUSTER_ADDRESS = 'https://100.64.77.101:8443';

/** An lxc client config with the cluster as remote `clu`, and the cluster trusting its certificate. */
async function clientOfCluster(client: LxdClient, dir: string): Promise<string> {
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=rig-bench', '-days', '1'],
    ...['-keyout', join(dir, 'client.key'), '-out', join(dir, 'client.crt')],
  ]);
  const trusted = await client.trust(readFileSync(join(dir, 'client.crt'), 'utf8'), `rig-bench-${TAG}`);
  mkdirSync(join(dir, 'servercerts'));
  writeFileSync(join(dir, 'servercerts', 'clu.crt'), readFileSync(join(lxdRoot, 'm1', 'lxd', 'cluster.crt')));
  const remote = `  clu: { addr: "${CLUSTER_ADDRESS}", auth_type: tls, protocol: lxd, public: false }`;
  writeFileSync(join(dir, 'config.yml'), ['default-remote: local', 'remotes:', remote, ''].join('\n'));
  return trusted;
}

/**
 * N-node rigs of LXD nodes on the test cluster, spread and on one member, alternating, after one warm-up round of
 * each (the first up imports rig's images into the cluster's store). The CLI runs from inside member m2's network
 * namespace, as the e2e tests run it (outbound TLS from this host's own is intercepted here); the members see this
 * host's files (RIG_LXD_SHARED_FILES=1). The cluster is made for the bench and removed after it.
 */
export async function clusterSpread(options: Options, ctx: Ctx): Promise<ClusterSpread> {
  const n = options.clusterNodes;
  const conf = mkdtempSync(join(ctx.tmp, 'lxc-conf-'));
  const ms = { spread: [] as number[], oneMember: [] as number[] };
  let client: LxdClient | undefined;
  let trusted: string | undefined;
  live.set('lxd test cluster', () => quiet(script, ['down'], { env: clusterEnv }));
  try {
    await run(script, ['up', '3'], { timeout: 300_000, env: clusterEnv });
    client = LxdClient.connect({ socket: localSocket(join(lxdRoot, 'm1', 'lxd')) });
    trusted = await clientOfCluster(client, conf);
    const holder = readFileSync(join(lxdRoot, 'm2', 'holder.pid'), 'utf8').trim();
    const inMember: RunOptions = { timeout: 900_000, env: { LXD_CONF: conf, RIG_LXD_SHARED_FILES: '1' } };
    const rigCli = (args: string[]) => run('nsenter', ['-n', '-t', holder, NODE, RIG, ...args], inMember);
    for (let i = 0; i < options.clusterRuns + 1; i++) {
      for (const variant of ['spread', 'oneMember'] as const) {
        const name = `${ctx.prefix}cl${variant === 'spread' ? 's' : 'o'}${i}`;
        const file = join(ctx.tmp, `${name}.yaml`);
        const lxd = variant === 'spread' ? 'lxd: { remote: clu }' : 'lxd: { remote: clu, target: m1 }';
        writeFileSync(file, lxdRigFile(name, n).replace('backend: lxd\n', `backend: lxd\n${lxd}\n`));
        live.set(name, () => quiet('nsenter', ['-n', '-t', holder, NODE, RIG, 'down', '--name', name], inMember));
        const up = await timed(() => rigCli(['up', file]));
        await rigCli(['down', '--name', name]);
        live.delete(name);
        if (i > 0) ms[variant].push(roundN(up.ms));
      }
    }
  } finally {
    if (client && trusted) await client.untrust(trusted).catch(() => {});
    await quiet(script, ['down'], { env: clusterEnv });
    live.delete('lxd test cluster');
    rmSync(conf, { recursive: true, force: true });
  }
  const s = { spread: stats(ms.spread), oneMember: stats(ms.oneMember) };
  return { nodes: n, ...s, ratio: round(ratio(s.spread.median, s.oneMember.median), 3) };
}
