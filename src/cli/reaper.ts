// The reaper process (see engine/reaper.ts): waits for its parent's pipe to close; unless told "disarm" first,
// it removes the rig. Started detached, in its own session, so a Ctrl-C or a kill of the parent spares it.

const rig = process.argv[2];
let message = '';
process.stdin.on('data', (chunk: Buffer) => (message += chunk.toString()));
process.stdin.on('end', async () => {
  if (message.includes('disarm')) process.exit(0);
  console.error(`${new Date().toISOString()} rig reaper: the owner of rig ${rig} is gone; removing the rig`);
  try {
    // Loaded only now: while its owner works, the reaper costs nothing but a pipe.
    const [{ destroyRig }, { createEngine }] = await Promise.all([import('../engine/down.js'), import('./engine.js')]);
    await destroyRig(await createEngine(), rig);
    console.error(`${new Date().toISOString()} rig reaper: removed rig ${rig}`);
  } catch (err) {
    console.error(`rig reaper: could not remove rig ${rig}: ${(err as Error).message}`);
  }
  process.exit(0);
});
