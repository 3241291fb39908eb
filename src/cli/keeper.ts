// The keeper process of one rig (see engine/keeper.ts): started detached by up and run once the rig is ready,
// it re-wires Docker nodes and the sidecar that restart, and ends when the rig's network is removed.
import { createEngine } from './engine.js';
import { keep } from '../engine/keeper.js';

const rig = process.argv[2];
try {
  await keep(await createEngine(), rig, (line) => console.error(`${new Date().toISOString()} rig keeper ${rig}: ${line}`));
} catch (err) {
  console.error(`rig keeper ${rig}: ${(err as Error).message}`);
}
process.exit(0);
