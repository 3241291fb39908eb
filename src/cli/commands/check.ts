import { liveNamesInConfigs, notInRig, places } from '../../engine/fidelity.js';
import { loadRigFile } from '../../rigfile/load.js';
import { table } from '../table.js';
import { warn } from '../output.js';
import { dirname, relative } from 'node:path';
import { planRig, type PlannedLink } from '../../plan/plan.js';
import { runCommand } from '../../runtime/command.js';

/**
 * rig check: how faithful the rig is to production, without making anything. Every live host name the config
 * trees name, with the rig node that answers for it, or "not in the rig" (it will not resolve).
 */
export async function check(rigFile: string, flags: { name?: string; json?: boolean }): Promise<void> {
  const spec = loadRigFile(rigFile, { name: flags.name });
  spec.warnings.forEach((w) => warn(w));
  (await linksGitSees(planRig(spec).links)).forEach((w) => warn(w));
  const names = liveNamesInConfigs(spec);
  if (flags.json) {
    console.log(JSON.stringify(names, null, 2));
    return;
  }
  if (!names.length) {
    console.log('The config trees name no host under a live domain.');
    return;
  }
  console.log(
    table(
      ['LIVE NAME', 'IN THE RIG', 'NAMED IN'],
      names.map((n) => [n.name, n.mirroredBy.join(', ') || (n.forwarded ? 'forwarded upstream' : 'not in the rig'), places(n)]),
    ),
  );
  const missing = names.filter(notInRig).length;
  if (missing)
    console.log(
      `\n${missing} live name${missing > 1 ? 's' : ''} not in the rig: ${missing > 1 ? 'they get' : 'it gets'} NXDOMAIN in the rig (add a node that mirrors ${missing > 1 ? 'each' : 'it'}, or list ${missing > 1 ? 'them' : 'it'} in network.forward)`,
    );
}

/**
 * The symlinks `up` will make that git does not ignore: while the rig is up they show in `git status` as untracked
 * files of the control repo. One warning per directory, with a pattern for the clone's own exclude file, which is
 * never committed (nothing rig-specific goes into the repo).
 */
async function linksGitSees(links: PlannedLink[]): Promise<string[]> {
  const byDir = new Map<string, PlannedLink[]>();
  for (const link of links) byDir.set(dirname(link.path), [...(byDir.get(dirname(link.path)) ?? []), link]);
  const warnings: string[] = [];
  for (const [dir, inDir] of byDir) {
    const top = await runCommand('git', ['-C', dir, 'rev-parse', '--show-toplevel'], { allowFailure: true }).catch(() => undefined);
    if (!top || top.exitCode !== 0) continue; // not in a git work tree (or no git): nothing shows
    const ignored = await runCommand('git', ['-C', dir, 'check-ignore', '--', ...inDir.map((l) => l.path)], { allowFailure: true });
    const seen = inDir.filter((l) => !ignored.stdout.split('\n').some((p) => p && l.path.endsWith(p)));
    if (!seen.length) continue;
    const root = top.stdout.trim();
    const suffix = commonSuffix(seen.map((l) => l.path.slice(l.path.lastIndexOf('/') + 1)));
    const pattern = `${relative(root, dir)}/*${suffix}`;
    warnings.push(
      `the symlinks rig makes in ${relative(process.cwd(), dir) || '.'} (${seen.length}, e.g. ${relative(dir, seen[0].path)}) are not ignored by git: while the rig is up they show in git status as untracked files; to hide them in this clone only: echo '/${pattern}' >> ${root}/.git/info/exclude`,
    );
  }
  return warnings;
}

/** What every name ends with from a dot on (".village.test.yaml"), or "" when they share no such ending. */
function commonSuffix(names: string[]): string {
  let suffix = names[0];
  for (const name of names) while (!name.endsWith(suffix)) suffix = suffix.slice(1);
  const dot = suffix.indexOf('.');
  return dot === -1 ? '' : suffix.slice(dot);
}
