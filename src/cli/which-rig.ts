import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { rigNames } from '../engine/down.js';
import type { Engine } from '../engine/context.js';
import { ExitCode, RigError } from '../errors.js';
import { Label } from '../labels.js';
import { loadRigFile } from '../rigfile/load.js';
import { settings } from './engine.js';

/**
 * The rig a command means: --name, else RIG_NAME (inside `rig run`), else the only rig that is up, else the rig
 * file of the current directory (rig.yaml). When several are up and nothing says which, the error lists them.
 */
export async function whichRig(engine: Engine, name?: string, cwd = process.cwd()): Promise<string> {
  const given = name ?? settings().rigName;
  if (given) return given;
  const up = await rigNames(engine);
  if (up.length === 1) return up[0];
  const here = join(cwd, 'rig.yaml');
  if (existsSync(here)) return loadRigFile(here).name;
  if (!up.length) throw new RigError('No rig is up.', 'bring one up with: rig up RIGFILE', ExitCode.badInput);
  throw new RigError(
    `${up.length} rigs are up: ${up.join(', ')}; which one?`,
    'say which with --name NAME (or set RIG_NAME)',
    ExitCode.badInput,
  );
}

/** The rigs that are up, by their networks (what `rig status` and `rig ls` show), sorted. */
export async function upRigNames(engine: Engine): Promise<string[]> {
  return [...new Set((await engine.rigs.networks()).map((n) => n.labels[Label.rig]))].sort();
}

export { closest, editDistance, noSuchRig, shortList, unknownNode, whichNodes } from '../engine/which-nodes.js';
