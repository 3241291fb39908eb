import type { Engine } from './context.js';
import { listNodes } from './nodes.js';
import { DEFAULT_CHECK_TIMEOUT, NodeRuns } from './node-runs.js';
import type { NodeInstance } from '../runtime/backend.js';

export interface CheckResult {
  fqdn: string;
  command: string;
  passed: boolean;
  exitCode: number;
  output: string;
  seconds: number;
  timeout: number; // the seconds it had
  timedOut: boolean; // it ran out of them: it failed, and its processes in the node were ended
  interrupted?: boolean; // rig was interrupted as it ran: its processes in the node were ended
}

/** A validate command that did not run: rig was interrupted first. */
export interface CheckNotRun {
  fqdn: string;
  command: string;
}

export interface ValidateOptions {
  timeout?: number; // seconds for every check, over what each node says (its validate_timeout)
  runs?: NodeRuns; // the runs to start them under (an interrupt ends them); default: runs of their own
}

/** How long a node's checks may each take (seconds): the command line's, else the node's own, else the default. */
export const checkTimeout = (node: NodeInstance, timeout?: number) => timeout ?? node.validateTimeout ?? DEFAULT_CHECK_TIMEOUT;

/**
 * Run every node's validate commands inside it (nodes in parallel, each node's checks in order). Interrupted (the
 * runs' signal), it ends the checks under way and starts no more: those are `notRun`.
 */
export async function validateRig(
  engine: Engine,
  rig: string,
  options: ValidateOptions = {},
): Promise<{ results: CheckResult[]; notRun: CheckNotRun[] }> {
  const nodes = await listNodes(engine, rig);
  const perNode = await Promise.all(nodes.map((node) => validateNode(engine, node, options)));
  const results = perNode.flat().sort((a, b) => a.fqdn.localeCompare(b.fqdn));
  const notRun = nodes.flatMap((node) =>
    (node.validate ?? []).slice(results.filter((r) => r.fqdn === node.node).length).map((command) => ({ fqdn: node.node, command })),
  );
  return { results, notRun };
}

/**
 * A node's validate commands, in order, each with its deadline (kept in the node by rig-run: at the deadline its
 * whole process group is ended, and it fails as timed out), all in one exec (NodeRuns.runEach). What a check leaves
 * running in its group ends with it.
 * Interrupted, the check under way is ended and the others are not run (fewer results than commands).
 */
export async function validateNode(engine: Engine, node: NodeInstance, options: ValidateOptions = {}): Promise<CheckResult[]> {
  const runs = options.runs ?? new NodeRuns(engine);
  const timeout = checkTimeout(node, options.timeout);
  const commands = node.validate ?? [];
  const ran = await runs.runEach(node, commands, { timeout, whole: true });
  return ran.map(({ exitCode, output, seconds, timedOut, interrupted }, i) => ({
    fqdn: node.node,
    command: commands[i],
    passed: exitCode === 0 && !timedOut,
    exitCode,
    output,
    seconds,
    timeout,
    timedOut,
    ...(interrupted && { interrupted }),
  }));
}

/** What became of a check that did not pass, in words: "exited 3", "timed out after 30 s", "interrupted". */
export const checkFailure = (r: CheckResult) =>
  r.timedOut ? `timed out after ${r.timeout} s` : r.interrupted ? 'interrupted' : `exited ${r.exitCode}`;

const xml = (text: string) =>
  text
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');

/** JUnit XML: one test suite per rig, one test case per check, classname = node; checks not run are skipped. */
export function junitXml(rig: string, results: CheckResult[], notRun: CheckNotRun[] = []): string {
  const failures = results.filter((r) => !r.passed).length;
  const time = results.reduce((t, r) => t + r.seconds, 0).toFixed(3);
  const tests = results.length + notRun.length;
  const skipped = notRun.map(
    (r) =>
      `    <testcase classname="${xml(r.fqdn)}" name="${xml(r.command)}" time="0.000">\n      <skipped message="not run: rig was interrupted"/>\n    </testcase>`,
  );
  const cases = results.map((r) => {
    const head = `    <testcase classname="${xml(r.fqdn)}" name="${xml(r.command)}" time="${r.seconds.toFixed(3)}"`;
    if (r.passed) return `${head}>\n      <system-out>${xml(r.output)}</system-out>\n    </testcase>`;
    const type = r.timedOut ? 'timeout' : r.interrupted ? 'interrupted' : 'exit';
    return `${head}>\n      <failure message="${xml(checkFailure(r))}" type="${type}">${xml(r.output)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="rig" tests="${tests}" failures="${failures}" time="${time}">`,
    `  <testsuite name="rig ${xml(rig)}" tests="${tests}" failures="${failures}" errors="0" skipped="${notRun.length}" time="${time}">`,
    ...cases,
    ...skipped,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
