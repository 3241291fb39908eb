import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { listNodes } from '../../engine/nodes.js';
import { dirname, resolve } from 'node:path';
import type { Engine } from '../../engine/context.js';
import { checkFailure, junitXml, validateRig, type CheckNotRun, type CheckResult } from '../../engine/validate.js';
import { NodeRuns } from '../../engine/node-runs.js';
import { ExitCode, RigError } from '../../errors.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { whichRig } from '../which-rig.js';
import { warn } from '../output.js';
import { table } from '../table.js';
import { parseDuration } from '../../duration.js';
import { catchInterrupts, interruptedError } from '../interrupts.js';
import chalk from 'chalk';
import { printable, printableLines } from '../../printable.js';

export interface TestFlags {
  name?: string;
  junit?: string;
  json?: boolean;
  timeout?: string;
}

/** What runValidations prints and writes, and how long each check may take (seconds; default: each node's own). */
export interface ValidationOptions {
  junit?: string;
  json?: boolean;
  timeout?: number;
}

/** A --timeout (or --test-timeout) for checks, in seconds; undefined: each node's own. */
export const checkTimeoutOption = (text: string | undefined, option: string) =>
  text === undefined ? undefined : parseDuration(text, option) / 1000;

/**
 * rig test: every node's validate commands, run inside the node; a table, JUnit XML on request; exit 1 if any fails.
 * Ctrl-C or SIGTERM ends the checks under way in the nodes, shows what was done, and exits 130.
 */
export async function test(rigFile: string | undefined, flags: TestFlags): Promise<void> {
  if (rigFile && flags.name)
    throw new RigError('Say which rig to test once.', 'rig test RIGFILE, or rig test --name NAME', ExitCode.badInput);
  const timeout = checkTimeoutOption(flags.timeout, '--timeout');
  if (flags.junit) checkReportPath(flags.junit);
  const interrupts = catchInterrupts();
  try {
    const engine = await createEngine();
    const name = rigFile ? loadRigFile(resolve(rigFile)).name : await whichRig(engine, flags.name);
    const code = await runValidations(engine, name, { junit: flags.junit, json: flags.json, timeout }, interrupts.signal);
    if (interrupts.which) throw interruptedError('the checks under way were ended in the nodes');
    process.exitCode = code;
  } finally {
    interrupts.release();
  }
}

/**
 * Every node's checks, their results printed (and written as JUnit XML). Returns the exit code: 0 all passed, 1 one
 * did not, 130 `signal` came (the checks under way were ended in the nodes; what they and the others did is shown).
 */
export async function runValidations(engine: Engine, rig: string, options: ValidationOptions, signal?: AbortSignal): Promise<number> {
  const { results, notRun } = await validateRig(engine, rig, { timeout: options.timeout, runs: new NodeRuns(engine, signal) });
  if (!results.length && !notRun.length) {
    const nodes = await listNodes(engine, rig);
    if (!nodes.length) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig status', ExitCode.badInput);
  }
  if (options.json) {
    console.log(JSON.stringify(results, null, 2));
    if (notRun.length) warn(`interrupted: ${notRun.length} checks not run`, { notRun });
  } else printResults(results, notRun, options.junit);
  const code = signal?.aborted ? ExitCode.interrupted : results.every((r) => r.passed) ? ExitCode.ok : ExitCode.failed;
  // After the results are out: a report that cannot be written (its disk filled meanwhile) loses none of them.
  if (options.junit) {
    try {
      writeFileSync(options.junit, junitXml(rig, results, notRun));
    } catch (err) {
      warn(`the JUnit XML could not be written to ${options.junit}: ${(err as Error).message}; the results are above`);
      return code === ExitCode.interrupted ? code : ExitCode.failed;
    }
  }
  return code;
}

/** The table of checks, what each that did not pass said, and the count. */
function printResults(results: CheckResult[], notRun: CheckNotRun[], junit: string | undefined): void {
  const result = (r: CheckResult) =>
    r.passed
      ? { text: 'pass', style: chalk.green }
      : { text: r.timedOut ? `timed out (${r.timeout} s)` : r.interrupted ? 'interrupted' : `fail (exit ${r.exitCode})`, style: chalk.red };
  console.log(
    table(
      ['NODE', 'CHECK', 'RESULT', 'SECONDS'],
      [
        ...results.map((r) => [r.fqdn, r.command, result(r), r.seconds.toFixed(2)]),
        ...notRun.map((r) => [r.fqdn, r.command, { text: 'not run', style: chalk.yellow }, '']),
      ],
    ),
  );
  for (const r of results.filter((r) => !r.passed))
    console.log(`\n${r.fqdn}: ${printable(r.command)} ${checkFailure(r)}:\n${printableLines(r.output.trimEnd())}`);
  const failed = results.filter((r) => !r.passed && !r.interrupted);
  const timedOut = failed.filter((r) => r.timedOut).length;
  const interrupted = results.filter((r) => r.interrupted).length;
  const counts = [
    `${results.filter((r) => r.passed).length} passed`,
    `${failed.length} failed${timedOut ? ` (${timedOut} timed out)` : ''}`,
    ...(interrupted ? [`${interrupted} interrupted`] : []),
    ...(notRun.length ? [`${notRun.length} not run`] : []),
  ];
  console.log(`\n${counts.join(', ')}${junit ? ` (JUnit XML: ${junit})` : ''}`);
}

/**
 * Before any check runs: the JUnit report's directory must exist and be writable, and the path must not be a
 * directory, so that a whole run is never spent on results that have nowhere to go.
 */
export function checkReportPath(path: string): void {
  const refuse = (why: string, hint: string) => {
    throw new RigError(`--junit ${path}: ${why}.`, hint, ExitCode.badInput);
  };
  const dir = dirname(resolve(path));
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    return refuse(`the directory ${dir} does not exist`, `create it first (mkdir -p ${dir}), or write the report elsewhere`);
  }
  if (!isDir) refuse(`${dir} is not a directory`, 'give a file path in an existing directory');
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    refuse(`the directory ${dir} is not writable`, 'write the report to a directory you may write to');
  }
  try {
    if (statSync(path).isDirectory()) refuse('it is a directory', 'give a file path, e.g. results.xml');
  } catch (err) {
    if (err instanceof RigError) throw err; // not there yet: it will be made
  }
}
