import { execa } from 'execa';
import { rigBin } from './helpers.js';

/** Build rig's images once, before the e2e files run side by side (on a new machine this is the slow part). */
export default async function setup(): Promise<void> {
  const build = await execa('node', [rigBin, 'images', 'build'], { env: { CI: 'true' }, reject: false, all: true });
  if (build.exitCode !== 0) throw new Error(`rig images build failed:\n${build.all}`);
}
