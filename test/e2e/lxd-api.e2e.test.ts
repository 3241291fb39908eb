import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { docker, uniqueName } from './helpers.js';
import { LxdClient } from '../../src/runtime/lxd/api.js';
import { localSocket } from '../../src/runtime/lxd/transport.js';
import { deleteImage, imageByAlias, images, importImage, metadataTarball } from '../../src/runtime/lxd/images.js';
import { createBridge, deleteNetwork, network, rigNetworks } from '../../src/runtime/lxd/networks.js';
import { followEvents, instanceOf, type EventStream, type LxdEvent } from '../../src/runtime/lxd/events.js';
import { consoleLog, deleteFile, makeDirectory, pullFile, pushFile, statFile } from '../../src/runtime/lxd/files.js';
import { execStreamed } from '../../src/runtime/lxd/exec-stream.js';
import { labelsOf, marksOf } from '../../src/runtime/lxd/marks.js';
import { Label } from '../../src/labels.js';

// rig's LXD client (src/runtime/lxd/) against a real one-member LXD cluster, made for this file by
// scripts/lxd-test-cluster in namespaces of its own and removed after it. The groundwork of issue 24: no rig
// command runs on LXD yet. It needs Debian's `lxd`, which scripts/setup installs.
const script = resolve(import.meta.dirname, '../../scripts/lxd-test-cluster');
const tag = 'rlxa'; // this file's own test cluster (its namespaces, links and directory): files may run side by side
const lxdRoot = `/tmp/rig-lxd-${tag}`; // the script's default RIG_LXD_ROOT for the tag
const clusterEnv = { RIG_LXD_TAG: tag };
const installed = ['/usr/bin/lxd', '/usr/sbin/lxd', '/usr/local/bin/lxd', '/snap/bin/lxd'].some((p) => existsSync(p));

const rig = uniqueName('lxdapi');
const alias = `rig-${rig}-base`;
const bridge = `rl${rig.replace(/\D/g, '').slice(-8)}`; // a Linux interface name: at most 15 characters
const instance = `rig-${rig}-n1`;
const marks = marksOf({ [Label.rig]: rig, [Label.role]: 'node' });

/** Every event seen, and a signal for each that comes. */
const events: LxdEvent[] = [];
const arrivals = new EventEmitter();
const record = (e: LxdEvent) => {
  events.push(e);
  arrivals.emit('event');
};

/** The first event that `match`es, seen already or when it comes; a rejection at the deadline. */
function firstEvent(match: (e: LxdEvent) => boolean, timeoutMs: number): Promise<LxdEvent> {
  return new Promise((resolvePromise, reject) => {
    const look = () => {
      const found = events.find(match);
      if (!found) return;
      clearTimeout(timer);
      arrivals.off('event', look);
      resolvePromise(found);
    };
    const timer = setTimeout(() => {
      arrivals.off('event', look);
      reject(new Error(`no such event in ${timeoutMs} ms; seen: ${JSON.stringify(events.map((e) => e.metadata.action))}`));
    }, timeoutMs);
    arrivals.on('event', look);
    look();
  });
}

const elapsed = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

describe('LXD REST API client, against a one-member LXD cluster', () => {
  let client: LxdClient;
  let work: string;
  let fingerprint: string | undefined;
  let stream: EventStream | undefined;

  beforeAll(async () => {
    if (!installed) throw new Error('lxd is not installed here: scripts/setup installs it (apt-get install lxd)');
    await execa(script, ['up', '1'], { timeout: 180_000, env: clusterEnv });
    client = LxdClient.connect({ socket: localSocket(join(lxdRoot, 'm1', 'lxd')) });
    work = mkdtempSync(join(tmpdir(), 'rig-lxd-e2e-'));
    // rig's base image's whole filesystem, as `docker export` gives it (a plain tar)
    const base = (await docker(['images', '--filter', `label=${Label.image}=base`, '--format', '{{.Repository}}:{{.Tag}}'])).split('\n')[0];
    const container = await docker(['create', '--network', 'none', '--label', `${Label.role}=unpack`, base, '/bin/true']);
    try {
      await docker(['export', '-o', join(work, 'rootfs.tar'), container]);
    } finally {
      await docker(['rm', '-f', container]);
    }
  });

  afterAll(async () => {
    stream?.stop();
    // Whatever a failed test left, then the cluster itself; each step runs even if one before it failed.
    const steps = [
      () => client?.deleteInstance(instance),
      () => client && deleteNetwork(client, bridge),
      () => client && fingerprint && deleteImage(client, fingerprint),
      () => execa(script, ['down'], { timeout: 180_000, env: clusterEnv }),
    ];
    for (const step of steps) await Promise.resolve(step()).catch((err: unknown) => console.error('lxd-api.e2e cleanup:', err));
    if (work) rmSync(work, { recursive: true, force: true });
    expect(existsSync(lxdRoot)).toBe(false);
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(`${tag}-sw`);
  });

  it('answers as a one-member cluster', async () => {
    const members = await client.members();
    expect(members.map((m) => [m.server_name, m.status])).toEqual([['m1', 'Online']]);
    expect((await client.server()).environment.server_clustered).toBe(true);
  });

  it("imports rig's base root filesystem as an image under an alias, marked as the rig's", async () => {
    const t0 = performance.now();
    fingerprint = await importImage(client, {
      rootfs: join(work, 'rootfs.tar'),
      metadata: metadataTarball(`rig base, for ${rig}`),
      alias,
      properties: marks,
    });
    console.log(`lxd-api.e2e: image import (docker-exported base rootfs) in ${elapsed(t0)}`);
    expect(await imageByAlias(client, alias)).toBe(fingerprint);
    const image = (await images(client)).find((i) => i.fingerprint === fingerprint)!;
    expect(labelsOf(image.properties)[Label.rig]).toBe(rig);
  });

  it('makes a bridge with no address and no DHCP of its own, marked as the rig\u2019s', async () => {
    await createBridge(client, bridge, marks);
    const made = await network(client, bridge);
    expect(made?.config).toMatchObject({ 'ipv4.address': 'none', 'ipv4.dhcp': 'false', 'ipv6.address': 'none' });
    expect((await rigNetworks(client, rig)).map((n) => n.name)).toEqual([bridge]);
  });

  it('launches an instance on that bridge, and the events stream says it started', async () => {
    stream = await followEvents(client, ['lifecycle'], record);
    const t0 = performance.now();
    await client.createInstance({
      name: instance,
      alias,
      config: { ...marks, 'raw.lxc': 'lxc.init.cmd = /bin/sleep infinity' }, // rig's base image has no init of its own
      devices: { eth0: { type: 'nic', network: bridge, name: 'eth0' } },
    });
    await client.setState(instance, 'start');
    console.log(`lxd-api.e2e: instance create + start in ${elapsed(t0)}`);
    const started = await firstEvent((e) => e.metadata.action === 'instance-started' && instanceOf(e) === instance, 30_000);
    expect(started.type).toBe('lifecycle');
    expect((await client.state(instance)).status).toBe('Running');
    expect((await client.rigInstances(rig)).map((i) => [i.name, i.location])).toEqual([[instance, 'm1']]);
  });

  it('runs a command in it and reads back its exit code, stdout and stderr', async () => {
    const t0 = performance.now();
    const result = await client.exec(instance, ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; cat /etc/debian_version; exit 3']);
    console.log(`lxd-api.e2e: exec round trip (record-output) in ${elapsed(t0)}`);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toMatch(/^to-stdout\n\d+/);
    expect(result.stderr).toBe('to-stderr\n');
    const mac = (await client.exec(instance, ['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    expect((await client.instance(instance))?.config?.['volatile.eth0.hwaddr']).toBe(mac); // its NIC is the one on the rig bridge
  });

  it('runs a command with its streams live: stdin in, stdout and stderr apart, its exit code', async () => {
    const [out, err]: Buffer[][] = [[], []];
    const t0 = performance.now();
    const run = await execStreamed(client, instance, ['sh', '-c', 'cat; echo done >&2; exit 4'], {
      onStdout: (d) => out.push(d),
      onStderr: (d) => err.push(d),
      timeoutMs: 60_000,
    });
    run.write('line one\n');
    run.write('line two\n');
    run.closeStdin();
    expect(await run.exitCode).toBe(4);
    console.log(`lxd-api.e2e: exec round trip (websockets) in ${elapsed(t0)}`);
    expect(Buffer.concat(out).toString()).toBe('line one\nline two\n');
    expect(Buffer.concat(err).toString()).toBe('done\n');
  });

  it('runs a command on a terminal of the size asked for, resized on the way', async () => {
    let text = '';
    const output = new EventEmitter();
    /** Resolves once the terminal has shown `expected`; rejects at the deadline. */
    const shown = (expected: string) =>
      new Promise<void>((resolvePromise, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the terminal did not show ${JSON.stringify(expected)}: ${JSON.stringify(text)}`)),
          30_000,
        );
        const look = () => text.includes(expected) && (clearTimeout(timer), output.off('data', look), resolvePromise());
        output.on('data', look);
        look();
      });
    const run = await execStreamed(
      client,
      instance,
      ['sh', '-c', 'stty size; until [ "$(stty size)" = "40 120" ]; do sleep 0.05; done; echo resized; read line; echo "got $line"'],
      {
        terminal: { width: 100, height: 30 },
        timeoutMs: 60_000,
        onStdout: (d) => {
          text += d.toString().replace(/\r/g, '');
          output.emit('data');
        },
      },
    );
    await shown('30 100\n');
    run.resize(120, 40); // on the control websocket: the command says when its terminal has the new size
    await shown('resized\n');
    run.write('hello\r');
    expect(await run.exitCode).toBe(0);
    expect(text).toMatch(/^30 100\nresized\nhello\ngot hello\n$/);
  });

  it('puts files and directories in it and reads them back through the API, on whatever member it is', async () => {
    await makeDirectory(client, instance, '/.rig-repo');
    await makeDirectory(client, instance, '/.rig-repo'); // there already: made
    await pushFile(client, instance, '/.rig-repo/site.pp', 'node default {}\n', { mode: 0o640 });
    expect(await statFile(client, instance, '/.rig-repo')).toBe('directory');
    expect((await pullFile(client, instance, '/.rig-repo/site.pp'))?.toString()).toBe('node default {}\n');
    expect((await client.exec(instance, ['stat', '-c', '%a %u', '/.rig-repo/site.pp'])).stdout).toBe('640 0\n');
    await deleteFile(client, instance, '/.rig-repo/site.pp');
    expect(await pullFile(client, instance, '/.rig-repo/site.pp')).toBeUndefined();
  });

  it('keeps what is written to its console, for rig logs', async () => {
    await client.exec(instance, ['sh', '-c', 'echo rig-console-line >/dev/console']);
    expect(await consoleLog(client, instance)).toContain('rig-console-line');
  });

  it('deletes the instance, the bridge and the image, and nothing of the rig is left', async () => {
    await client.deleteInstance(instance);
    await deleteNetwork(client, bridge);
    await deleteImage(client, fingerprint!);
    expect(await client.rigInstances(rig)).toEqual([]);
    expect(await rigNetworks(client, rig)).toEqual([]);
    expect((await images(client)).map((i) => i.fingerprint)).not.toContain(fingerprint);
    expect(await imageByAlias(client, alias)).toBeUndefined();
    await firstEvent((e) => e.metadata.action === 'instance-deleted' && instanceOf(e) === instance, 30_000);
  });
});
