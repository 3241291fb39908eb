// The machine the bench runs on, and the copy of rig it measures.
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { quiet, repo, run } from './process.js';
import { lines, round, type Maybe } from './util.js';

export interface Machine {
  cpu: string;
  memoryGiB: Maybe;
  kernel: string;
  debian: string | null;
  node: string;
  docker: string | null;
  storageDriver: string | null;
  compose: string | null;
  commit: string | null;
}

export async function machine(): Promise<Machine> {
  const out = async (file: string, args: string[]) => (await quiet(file, args)).stdout?.trim() || null;
  const cpus = os.cpus();
  let debian: string | null = null;
  try {
    debian = readFileSync('/etc/debian_version', 'utf8').trim();
  } catch {
    // not Debian: the report says null
  }
  return {
    cpu: `${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: os.release(),
    debian,
    node: process.version,
    docker: await out('docker', ['version', '--format', '{{.Server.Version}}']),
    storageDriver: await out('docker', ['info', '--format', '{{.Driver}}']),
    compose: await out('docker-compose', ['version', '--short']),
    commit: await out('git', ['-C', repo, 'describe', '--always', '--dirty']),
  };
}

/**
 * A copy of the built CLI (bin, dist, images, package.json; node_modules linked), taken when the bench starts: a
 * rebuild in this checkout while the bench runs (another terminal, a watcher) does not mix two versions of rig.
 */
export async function snapshot(tmp: string): Promise<string> {
  const dir = join(tmp, 'rig');
  mkdirSync(dir);
  await run('cp', ['-a', join(repo, 'bin'), join(repo, 'dist'), join(repo, 'images'), join(repo, 'package.json'), dir]);
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'bin', 'rig');
}

/** Containers of others on this engine: they add noise. */
export async function otherContainers(prefix: string): Promise<string[]> {
  const names = lines((await quiet('docker', ['ps', '--format', '{{.Names}}'])).stdout);
  return names.filter((n) => !n.includes(prefix));
}
