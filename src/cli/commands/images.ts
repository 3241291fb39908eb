import { listImages, pruneable, removeImage, type ImageRow } from '../../engine/images.js';
import { IMAGE_NAMES } from '../../runtime/docker/images.js';
import { createEngine } from '../engine.js';
import { note } from '../output.js';
import { outputMode, runSteps } from '../progress.js';
import { table } from '../table.js';

export async function buildImages(flags: { force?: boolean; json?: boolean }): Promise<void> {
  const { images } = await createEngine();
  const missing = await images.missing(IMAGE_NAMES, !!flags.force);
  await runSteps(
    missing.map((name) => ({ title: `Build ${images.ref(name)}`, run: (report) => images.build(name, report) })),
    outputMode(!!flags.json),
  );
  if (flags.json) {
    console.log(
      JSON.stringify(
        IMAGE_NAMES.map((name) => ({ image: name, ref: images.ref(name), built: missing.includes(name) })),
        null,
        2,
      ),
    );
    return;
  }
  for (const name of IMAGE_NAMES) console.log(`${images.ref(name)}${missing.includes(name) ? ' (built)' : ' (cached)'}`);
}

const megabytes = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;

/** rig images: rig's images on this host, what each is for, its size, whether `rig up` uses it now, which rigs use it. */
export async function showImages(flags: { json?: boolean }): Promise<void> {
  const rows = await listImages(await createEngine());
  if (flags.json) return void console.log(JSON.stringify(rows, null, 2));
  if (!rows.length) return void note('no images of rig here yet: rig images build (or rig up) builds them');
  const state = (r: ImageRow) => (r.current ? 'current' : 'older build');
  console.log(
    table(
      ['IMAGE', 'STORE', 'SIZE', 'BUILD', 'USED BY', 'FOR'],
      rows.map((r) => [r.ref, r.store, megabytes(r.size), state(r), r.usedBy.join(', ') || '-', r.purpose]),
    ),
  );
}

/**
 * rig images prune: remove rig's images (labelled io.rig.image, or so marked in a backend's store: nothing else is
 * looked at) that are not this checkout's builds and that no rig's container uses. --dry-run: say which, remove nothing.
 */
export async function pruneImages(flags: { dryRun?: boolean }): Promise<void> {
  const engine = await createEngine();
  const gone = pruneable(await listImages(engine));
  if (!gone.length) return void console.log('nothing to prune: every image of rig here is current or in use');
  for (const r of gone) {
    if (!flags.dryRun) await removeImage(engine, r);
    const where = r.store === 'docker' ? '' : ` from ${r.store}`;
    console.log(`${flags.dryRun ? 'would remove' : 'removed'} ${r.ref}${where} (${megabytes(r.size)})`);
  }
}
