import { liveNamesInConfigs, type LiveName } from '../../engine/fidelity.js';
import { loadRigFile } from '../../rigfile/load.js';
import { table } from '../table.js';
import { warn } from '../output.js';

/**
 * rig check: how faithful the rig is to production, without making anything. Every live host name the config
 * trees name, with the rig node that answers for it, or "not in the rig" (it will not resolve).
 */
export async function check(rigFile: string, flags: { name?: string; json?: boolean }): Promise<void> {
  const spec = loadRigFile(rigFile, { name: flags.name });
  spec.warnings.forEach((w) => warn(w));
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

const notInRig = (n: LiveName) => !n.mirroredBy.length && !n.forwarded;

export const places = (n: LiveName) =>
  n.places.length > 3 ? `${n.places.slice(0, 3).join(', ')} and ${n.places.length - 3} more` : n.places.join(', ');

/** What `up` says of the live names no node answers for: a warning, and up goes on. */
export function unmappedWarnings(names: LiveName[]): string[] {
  return names
    .filter(notInRig)
    .map((n) => `${n.name} (named in ${places(n)}) is not in the rig: it will not resolve there (rig check shows them all)`);
}
