import { writeFileSync } from 'node:fs';
import { listNodes } from '../../engine/nodes.js';
import { resolve } from 'node:path';
import type { Engine } from '../../engine/context.js';
import { junitXml, validateRig } from '../../engine/validate.js';
import { ExitCode, RigError } from '../../errors.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { whichRig } from '../which-rig.js';
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
  if (flags.junit) writeFileSync(flags.junit, junitXml(rig, results));
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
  return results.every((r) => r.passed) ? ExitCode.ok : ExitCode.failed;
}
