// The keeper process of one rig (see engine/keeper.ts): started detached by up (with --on-go as the up begins, and
// keeping the rig only once up says "go" on its standard input) or by a restore, it re-wires Docker nodes and the
// sidecar that restart, and ends when the rig's network is removed.
import { createEngine } from './engine.js';
import { keep, KEEPER_ON_GO } from '../engine/keeper.js';

const onGo = process.argv[2] === KEEPER_ON_GO;
const rig = process.argv[onGo ? 3 : 2];

/** Whether `up`, which started this keeper ahead of need, said "go" before its end (see preloadKeeper). */
async function toldToGo(): Promise<boolean> {
  let said = '';
  for await (const chunk of process.stdin) said += String(chunk);
  return said.startsWith('go');
}

try {
  process.stdout.on('error', () => {}); // whoever started it may have stopped listening
  if (onGo && !(await toldToGo())) process.exit(0);
  const log = (line: string) => console.error(`${new Date().toISOString()} rig keeper ${rig}: ${line}`);
  await keep(await createEngine(), rig, log, () => process.stdout.write('keeping\n'));
} catch (err) {
  console.error(`rig keeper ${rig}: ${(err as Error).message}`);
}
process.exit(0);
