import type { Engine } from './context.js';
import { ExitCode, RigError } from '../errors.js';
import { Label } from '../labels.js';
import { printable } from '../printable.js';
import { listNodes } from './nodes.js';
import { namesNode } from '../plan/plan.js';
import type { NodeInstance } from '../runtime/backend.js';

/** How many names a message lists before it says how many more there are. */
const LISTED = 6;

/** At most LISTED names, then how many more and where to see them all. */
export function shortList(names: string[], seeAll: string): string {
  if (names.length <= LISTED) return names.join(', ');
  return `${names.slice(0, LISTED).join(', ')} and ${names.length - LISTED} more (see them all with: ${seeAll})`;
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment): one typo is 1. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/**
 * The candidates closest to a mistyped word (at most three, equally close): within a third of its length in edits
 * (at least one), or that it begins.
 */
export function closest(word: string, candidates: string[]): string[] {
  const limit = Math.max(1, Math.floor(word.length / 3));
  const scored = [...new Set(candidates)]
    .map((c) => ({ c, d: word.length >= 3 && c.startsWith(word) ? 0.5 : editDistance(word, c) }))
    .filter(({ d }) => d <= limit)
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c));
  return scored
    .filter(({ d }) => d === scored[0].d)
    .slice(0, 3)
    .map(({ c }) => c);
}

const didYouMean = (names: string[]) => (names.length ? `did you mean ${names.join(' or ')}? ` : '');

/** No rig of that name is up: where the name came from, the closest names, and the rigs that are up. */
export function noSuchRig(name: string, up: string[], from: '--name' | 'RIG_NAME' = '--name'): RigError {
  const hint = up.length
    ? `${didYouMean(closest(name, up))}the rigs that are up: ${shortList(up, 'rig ls')}`
    : 'no rig is up; bring one up with: rig up RIGFILE';
  const source = from === 'RIG_NAME' ? ' (the name is RIG_NAME, as rig run sets it)' : '';
  return new RigError(`No rig named ${printable(name)} is up${source}.`, hint, ExitCode.badInput);
}

/**
 * A node name that is in no rig searched: the closest node names (by edit distance, with their rigs when several
 * rigs were searched), else a short list of the nodes there are.
 */
export function unknownNode(node: string, rig: string | undefined, nodes: Array<{ rig: string; node: string }>): RigError {
  const short = (fqdn: string) => (node.includes('.') ? fqdn : fqdn.split('.')[0]);
  const near = closest(
    node,
    nodes.map((n) => short(n.node)),
  );
  const rigsOf = (name: string) => [...new Set(nodes.filter((n) => short(n.node) === name).map((n) => n.rig))];
  const where = (name: string) => (rig ? name : `${name} (rig ${rigsOf(name).join(', rig ')})`);
  const all = [...new Set(nodes.map((n) => where(short(n.node))))];
  const hint = near.length
    ? `did you mean ${near.map(where).join(' or ')}?`
    : all.length
      ? `the nodes${rig ? ` of rig ${rig}` : ' that are up'}: ${shortList(all, rig ? `rig status --name ${rig}` : 'rig status')}`
      : 'no node is up; bring a rig up with: rig up RIGFILE';
  return new RigError(`No node ${printable(node)}${rig ? ` in rig ${rig}` : ' in any rig that is up'}.`, hint, ExitCode.badInput);
}

/**
 * The nodes a drill names (FQDN or short name), all of one rig: `rig` if given (--name, RIG_NAME), else the one rig
 * that has them. An unknown name is bad input, with the closest names; nothing is done before all are found.
 */
export async function whichNodes(engine: Engine, names: string[], rig?: string): Promise<{ rig: string; nodes: NodeInstance[] }> {
  const all = await listNodes(engine, rig);
  if (rig && !all.length) {
    const up = [...new Set((await engine.rigs.networks()).map((n) => n.labels[Label.rig]))].sort();
    if (!up.includes(rig)) throw noSuchRig(rig, up);
  }
  const found = names.map((name) => {
    const matches = all.filter((n) => namesNode(name, n.node));
    if (!matches.length) throw unknownNode(name, rig, all);
    return matches;
  });
  const rigs = [...new Set(found.flat().map((n) => n.rig))];
  const chosen = rigs.length === 1 ? rigs[0] : undefined;
  if (!chosen)
    throw new RigError(
      `${names.map((n) => printable(n)).join(', ')} name${names.length === 1 ? 's' : ''} nodes in ${rigs.length} rigs: ${rigs.join(', ')}.`,
      'say which with --name RIG (or set RIG_NAME)',
      ExitCode.badInput,
    );
  const nodes = found.map((matches) => matches.find((n) => n.rig === chosen)!);
  const twice = nodes.find((n, i) => nodes.findIndex((m) => m.node === n.node) !== i);
  if (twice) throw new RigError(`${twice.node} is named twice.`, 'name each node once', ExitCode.badInput);
  return { rig: chosen, nodes };
}
