import { resolve } from 'node:path';
import { destroyRig, rigExists, rigNames } from '../../engine/down.js';
import { ExitCode, RigError } from '../../errors.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';

export async function down(rigFile: string | undefined, flags: { name?: string; all?: boolean; json?: boolean }): Promise<void> {
  if ([rigFile, flags.name, flags.all].filter(Boolean).length !== 1) {
    throw new RigError('Say which rig to remove.', 'rig down RIGFILE, rig down --name NAME, or rig down --all', ExitCode.badInput);
  }
  const name = flags.name ?? (rigFile ? loadRigFile(resolve(rigFile)).name : undefined);
  const engine = await createEngine();
  // One rig named: it alone is looked for (a rig on LXD asks Docker nothing); every rig only to say which are up.
  const existing = flags.all ? await rigNames(engine) : (await rigExists(engine, name!)) ? [name!] : await rigNames(engine);
  if (!flags.all && !existing.includes(name!)) {
    throw new RigError(
      `No rig named ${name} is up, so nothing was removed.`,
      existing.length ? `the rigs on this host: ${existing.join(', ')}` : 'no rig is up on this host',
      ExitCode.badInput,
    );
  }
  const rigs = flags.all ? existing : [name!];
  const results = await Promise.all(rigs.map((rig) => destroyRig(engine, rig)));
  if (flags.json) console.log(JSON.stringify(results, null, 2));
  else if (!results.length) console.log('No rig to remove.');
  else {
    for (const r of results) {
      console.log(`rig ${r.rig}: removed ${r.containers} containers, its network and ${r.links.length} symlinks`);
      for (const name of r.detached)
        console.log(`rig ${r.rig}: ${name} was attached to its network and is not rig's: disconnected it, left it running`);
    }
  }
}
