import yaml from 'js-yaml';
import { factAccess, rigStatus, withFacts } from '../../engine/status.js';
import { ExitCode, RigError } from '../../errors.js';
import { createEngine, settings } from '../engine.js';
import { noSuchRig, unknownNode, upRigNames, whichRig } from '../which-rig.js';
import { table } from '../table.js';
import { printable } from '../../printable.js';
import { namesNode, shortName } from '../../plan/plan.js';

export async function facts(
  node: string,
  fact: string | undefined,
  flags: { name?: string; json?: boolean; yaml?: boolean },
): Promise<void> {
  const engine = await createEngine();
  const named = flags.name ?? settings().rigName;
  const rigs = await rigStatus(engine, named);
  if (named !== undefined && !rigs.length) throw noSuchRig(named, await upRigNames(engine), flags.name ? '--name' : 'RIG_NAME');
  const matches = rigs.flatMap((rig) => rig.nodes.filter((n) => namesNode(node, n.fqdn)).map((n) => ({ rig, node: n.fqdn })));
  if (!matches.length)
    throw unknownNode(
      node,
      named,
      rigs.flatMap((r) => r.nodes.map((n) => ({ rig: r.name, node: n.fqdn }))),
    );
  const here = matches.length > 1 ? await whichRig(engine).catch(() => undefined) : undefined; // the rig file of this directory
  const chosen = matches.length > 1 ? matches.filter((m) => m.rig.name === here) : matches;
  if (chosen.length !== 1)
    throw new RigError(
      `${node} names nodes in ${matches.length} rigs: ${matches.map((m) => m.rig.name).join(', ')}.`,
      'say which with --name RIG (or set RIG_NAME)',
      ExitCode.badInput,
    );
  const [{ rig, node: fqdn }] = chosen;
  const values = await withFacts(await factAccess(engine, rig.name), (f) => f.nodeFacts(rig.name, fqdn));
  if (fact !== undefined) {
    if (!(fact in values)) throw new RigError(`${fqdn} has no fact ${fact}.`, `see its facts with: rig facts ${fqdn}`, ExitCode.failed);
    // The one value, for scripts, exact; escaped only when a person reads it on a terminal; JSON with --json.
    if (flags.json) console.log(JSON.stringify({ rig: rig.name, fqdn, name: shortName(fqdn), fact, value: values[fact] }));
    else if (flags.yaml) process.stdout.write(yaml.dump({ [fact]: values[fact] }));
    else console.log(process.stdout.isTTY ? printable(values[fact]) : values[fact]);
  } else if (flags.json) console.log(JSON.stringify(values, null, 2));
  else if (flags.yaml) process.stdout.write(yaml.dump(values));
  else
    console.log(
      table(
        ['FACT', 'VALUE'],
        Object.entries(values).sort(([a], [b]) => a.localeCompare(b)),
      ),
    );
}
