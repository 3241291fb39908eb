// The keeper process of one rig (see engine/keeper.ts): started detached by up and run once the rig is ready,
// it re-wires Docker nodes and the sidecar that restart, and ends when the rig's network is removed.
import { createEngine } from './engine.js';
import { keep } from '../engine/keeper.js';

const rig = process.argv[2];
try {
  process.stdout.on('error', () => {}); // whoever started it may have stopped listening
  const log = (line: string) => console.error(`${new Date().toISOString()} rig keeper ${rig}: ${line}`);
  await keep(await createEngine(), rig, log, () => process.stdout.write('keeping\n'));
} catch (err) {
  console.error(`rig keeper ${rig}: ${(err as Error).message}`);
}
process.exit(0);
