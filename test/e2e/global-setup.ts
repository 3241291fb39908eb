import { execa } from 'execa';
import { resolve } from 'node:path';
import { rigBin } from './helpers.js';

const lxdHost = resolve(import.meta.dirname, '../../scripts/lxd-host');

/**
 * Build rig's images once, before the e2e files run side by side (on a new machine this is the slow part). The
 * teardown stops the LXD daemon if the run's files started it (lxd-host.ts: useLxdHost), and only then.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const lxdBefore = (await execa(lxdHost, ['status'], { reject: false })).exitCode === 0;
  const build = await execa('node', [rigBin, 'images', 'build'], { env: { CI: 'true' }, reject: false, all: true });
  if (build.exitCode !== 0) throw new Error(`rig images build failed:\n${build.all}`);
  return async () => {
    if (!lxdBefore) await execa(lxdHost, ['down'], { reject: false });
  };
}
