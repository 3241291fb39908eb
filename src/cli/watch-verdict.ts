import { relative } from 'node:path';
import { provisionPassed, type ProvisionResult } from '../engine/provision.js';
import type { CheckResult } from '../engine/validate.js';
import { printable, printableLines } from '../printable.js';
import { outputSettings } from './output.js';

/** A changed file, what it is to the rig, and the nodes it sends to provisioning. */
export interface Trigger {
  path: string;
  why: string;
  nodes: string[];
}

/** How many lines of a failing step's or check's output a verdict shows (as `up` shows a failed node's log). */
const TAIL_LINES = 8;
/** How many changed files a verdict line names; the rest are counted. */
const NAMED_FILES = 5;

const lastLines = (text: string) => text.trimEnd().split('\n').slice(-TAIL_LINES);
const indented = (lines: string[]) => lines.map((l) => `    ${printableLines(l)}`);

/** The verdict on one node: pass, or FAIL with the failing step or the failing validate commands. */
export function resultText(r: ProvisionResult): string {
  if (provisionPassed(r)) return `${r.fqdn} pass`;
  const why =
    r.failure ??
    `validate: ${r.checks
      .filter((c) => !c.passed)
      .map((c) => `${c.command} exited ${c.exitCode}`)
      .join(', ')}`;
  return `${r.fqdn} FAIL (${printable(why)})`;
}

/**
 * What to show under a failing verdict, for each node that failed: the failing step's last lines (what Puppet or
 * the script said before it failed), or each failing validate command's output.
 */
export function failureDetail(results: ProvisionResult[]): string[] {
  return results
    .filter((r) => !provisionPassed(r))
    .flatMap((r) => [
      ...(r.exitCode !== 0 && r.exitCode !== -1 ? stepDetail(r) : []),
      ...r.checks.filter((c) => !c.passed).flatMap((c) => checkDetail(r.fqdn, c)),
    ]);
}

function stepDetail(r: ProvisionResult): string[] {
  const step = /^step \d+\/\d+ \([a-z]+\)/.exec(r.failure ?? '')?.[0];
  const said = r.stepOutput ?? '';
  if (!said.trim()) return [`  ${r.fqdn}: ${step ?? 'its steps'} said nothing`];
  return [`  ${r.fqdn}: ${step ?? 'its output'} said:`, ...indented(lastLines(said))];
}

function checkDetail(node: string, c: CheckResult): string[] {
  const head = `  ${node}: ${printable(c.command)} exited ${c.exitCode}`;
  return c.output.trim() ? [`${head}:`, ...indented(lastLines(c.output))] : [`${head} (no output)`];
}

/**
 * One verdict: a line (`--json`: a JSON line) naming the changed files, each with what it is to the rig, the
 * verdict and its time from the change; under a failing one, why (failureDetail).
 */
export function printVerdict(
  at: Date,
  dir: string,
  triggers: Trigger[],
  text: string,
  passed: boolean | undefined,
  results?: ProvisionResult[],
  detail: string[] = [],
): void {
  const seconds = (Date.now() - at.getTime()) / 1000;
  if (outputSettings().json) {
    const changed = triggers.map((t) => t.path);
    const extra = detail.length ? { detail: detail.join('\n') } : {};
    console.log(
      JSON.stringify({
        time: new Date().toISOString(),
        changed,
        triggers,
        passed: passed ?? null,
        seconds,
        verdict: text,
        results,
        ...extra,
      }),
    );
    return;
  }
  const named = triggers.slice(0, NAMED_FILES).map((t) => `${relative(dir, t.path) || t.path} (${t.why})`);
  const more = triggers.length > NAMED_FILES ? ` and ${triggers.length - NAMED_FILES} more` : '';
  const mark = passed === undefined ? '-' : passed ? 'PASS' : 'FAIL';
  const line = `[${new Date().toISOString().slice(11, 19)}] ${mark} ${printable(named.join(', '))}${more}: ${text} (${seconds.toFixed(2)} s)`;
  console.log([line, ...detail].join('\n'));
}
