// The reaper process (see engine/reaper.ts), started by its shell once the owner's pipe closed without "disarm":
// removes the whole rig if its owner had claimed the rig name, else only the network the owner made.
// Started detached, in its own session, so a Ctrl-C or a kill of the parent spares it.

const [rig, claimed, network] = process.argv.slice(2);
console.error(
  `${new Date().toISOString()} rig reaper: the owner of rig ${rig} is gone; removing ${claimed ? 'the rig' : `its network ${network}`}`,
);
try {
  // Loaded only now: while its owner works, the reaper costs nothing but a pipe and a shell.
  const [{ reap }, { createEngine }] = await Promise.all([import('../engine/down.js'), import('./engine.js')]);
  await reap(await createEngine(), rig, { claimed: !!claimed, network });
  console.error(`${new Date().toISOString()} rig reaper: removed ${claimed ? `rig ${rig}` : `network ${network} of rig ${rig}`}`);
} catch (err) {
  console.error(`rig reaper: could not remove rig ${rig}: ${(err as Error).message}`);
}
process.exit(0);
