import { beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';

/**
 * This host's own LXD daemon (in the host's network namespace) for a test file with `backend: lxd` nodes: started by
 * scripts/lxd-host if none answers (one daemon for files side by side: the script takes a lock). It is stopped after
 * the whole run by global-setup.ts, if the run started it: a file that stopped it would pull it from under another.
 */
const lxdHost = resolve(import.meta.dirname, '../../scripts/lxd-host');
const installed = ['/usr/bin/lxd', '/usr/sbin/lxd'].some((p) => existsSync(p));

export function useLxdHost(): void {
  beforeAll(async () => {
    if (!installed) throw new Error('lxd is not installed here: scripts/setup installs it (apt-get install lxd)');
    await execa(lxdHost, ['up'], { timeout: 240_000 });
  }, 250_000);
}

export interface LxdInstance {
  name: string;
  status: string;
  created_at: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
}

/** LXD's instances, as its own client lists them. */
export async function lxdInstances(): Promise<LxdInstance[]> {
  return JSON.parse((await execa('lxc', ['list', '--format', 'json'])).stdout) as LxdInstance[];
}

/** The LXD instances a rig has, by rig's mark. */
export async function rigInstances(rig: string): Promise<LxdInstance[]> {
  return (await lxdInstances()).filter((i) => i.config['user.rig.rig'] === rig);
}

export interface LxdImage {
  fingerprint: string;
  aliases: Array<{ name: string }>;
  properties: Record<string, string>;
}

export async function lxdImages(): Promise<LxdImage[]> {
  return JSON.parse((await execa('lxc', ['image', 'list', '--format', 'json'])).stdout) as LxdImage[];
}
