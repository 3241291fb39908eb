import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { listNodes } from '../../engine/nodes.js';
import { dirname, resolve } from 'node:path';
import type { Engine } from '../../engine/context.js';
import { junitXml, validateRig } from '../../engine/validate.js';
import { ExitCode, RigError } from '../../errors.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { whichRig } from '../which-rig.js';
import { warn } from '../output.js';
import { table } from '../table.js';
import chalk from 'chalk';
import { printable, printableLines } from '../../printable.js';

export interface TestFlags {
  name?: string;
  junit?: string;
  json?: boolean;
}

/** rig test: every node's validate commands, run inside the node; a table, JUnit XML on request; exit 1 if any fails. */
export async function test(rigFile: string | undefined, flags: TestFlags): Promise<void> {
  if (rigFile && flags.name)
    throw new RigError('Say which rig to test once.', 'rig test RIGFILE, or rig test --name NAME', ExitCode.badInput);
  if (flags.junit) checkReportPath(flags.junit);
  const engine = await createEngine();
  const name = rigFile ? loadRigFile(resolve(rigFile)).name : await whichRig(engine, flags.name);
  process.exitCode = await runValidations(engine, name, flags);
}

export async function runValidations(engine: Engine, rig: string, flags: TestFlags): Promise<number> {
  const results = await validateRig(engine, rig);
  if (!results.length) {
    const nodes = await listNodes(engine, rig);
    if (!nodes.length) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig status', ExitCode.badInput);
  }
  if (flags.json) console.log(JSON.stringify(results, null, 2));
  else {
    console.log(
      table(
        ['NODE', 'CHECK', 'RESULT', 'SECONDS'],
        results.map((r) => [
          r.node,
          r.command,
          r.passed ? { text: 'pass', style: chalk.green } : { text: `fail (exit ${r.exitCode})`, style: chalk.red },
          r.seconds.toFixed(2),
        ]),
      ),
    );
    for (const r of results.filter((r) => !r.passed))
      console.log(`\n${r.node}: ${printable(r.command)} exited ${r.exitCode}:\n${printableLines(r.output.trimEnd())}`);
    const failed = results.filter((r) => !r.passed).length;
    console.log(`\n${results.length - failed} passed, ${failed} failed${flags.junit ? ` (JUnit XML: ${flags.junit})` : ''}`);
  }
  const passed = results.every((r) => r.passed) ? ExitCode.ok : ExitCode.failed;
  // After the results are out: a report that cannot be written (its disk filled meanwhile) loses none of them.
  if (flags.junit) {
    try {
      writeFileSync(flags.junit, junitXml(rig, results));
    } catch (err) {
      warn(`the JUnit XML could not be written to ${flags.junit}: ${(err as Error).message}; the results are above`);
      return ExitCode.failed;
    }
  }
  return passed;
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
