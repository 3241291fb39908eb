import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { ExitCode, RigError } from '../../errors.js';
import { printable } from '../../printable.js';
import { chromeTrace } from '../../trace/chrome.js';
import { readTrace } from '../../trace/read.js';
import { traceText } from '../../trace/text.js';
import { createEngine, settings } from '../engine.js';
import { noSuchRig, upRigNames, whichRig } from '../which-rig.js';

export const TRACE_FORMATS = ['text', 'json', 'chrome'] as const;

/** rig trace: what happened in a rig and when, who waited on whom, as a timeline, JSON, or a Trace Event file. */
export async function trace(flags: { name?: string; format: string; output?: string }): Promise<void> {
  if (!(TRACE_FORMATS as readonly string[]).includes(flags.format))
    throw new RigError(
      `No trace format ${printable(JSON.stringify(flags.format))}.`,
      'use --format text, json or chrome',
      ExitCode.badInput,
    );
  const engine = await createEngine();
  const rig = await whichRig(engine, flags.name);
  const up = await upRigNames(engine);
  if (!up.includes(rig)) throw noSuchRig(rig, up, flags.name === undefined && settings().rigName ? 'RIG_NAME' : '--name');
  const found = await readTrace(engine, rig);
  const text =
    flags.format === 'json'
      ? JSON.stringify(found, null, 2) + '\n'
      : flags.format === 'chrome'
        ? JSON.stringify(chromeTrace(found)) + '\n'
        : traceText(found);
  if (flags.output === undefined) return void process.stdout.write(text);
  // Whole or not at all: a viewer never opens half a trace.
  const partial = `${flags.output}.${process.pid}.part`;
  try {
    writeFileSync(partial, text);
    renameSync(partial, flags.output);
  } catch (err) {
    rmSync(partial, { force: true });
    throw new RigError(
      `The trace could not be written to ${flags.output}: ${(err as Error).message}.`,
      'give -o a path in a directory that exists and that you may write to',
      ExitCode.badInput,
    );
  }
}
