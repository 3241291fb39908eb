import { resolve } from 'node:path';
import { upSteps } from '../../engine/up.js';
import { rigStatus } from '../../engine/status.js';
import { planRig } from '../../plan/plan.js';
import { loadRigFile } from '../../rigfile/load.js';
import { createEngine } from '../engine.js';
import { outputMode, runSteps } from '../progress.js';
import { parseDuration } from '../table.js';
import { printStatus } from './status.js';

export interface UpFlags {
  name?: string;
  timeout: string;
  keepOnFailure?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function up(rigFile: string, flags: UpFlags): Promise<void> {
  const spec = loadRigFile(rigFile, { name: flags.name });
  const plan = planRig(spec);
  if (flags.dryRun) {
    console.log(JSON.stringify(plan, null, 2));
    return;
  }
  const engine = await createEngine();
  const { steps, cleanup, madeAnything } = upSteps(engine, plan, { timeoutMs: parseDuration(flags.timeout), keepOnFailure: !!flags.keepOnFailure });
  const mode = outputMode(!!flags.json);

  // Ctrl-C: stop and remove what was made; a second Ctrl-C stops at once.
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\nrig: interrupted; removing rig ${plan.name} (Ctrl-C again to stop at once)\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runSteps(steps, mode);
  } catch (err) {
    if (!interrupted) {
      await cleanup();
      if (flags.keepOnFailure && madeAnything()) process.stderr.write(`rig: kept the failed rig; remove it with: rig down --name ${plan.name}\n`);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const [status] = await rigStatus(engine, plan.name);
  printStatus([status], !!flags.json);
  process.stderr.write(`rig ${plan.name} is up (${resolve(rigFile)}); remove it with: rig down --name ${plan.name}\n`);
}
