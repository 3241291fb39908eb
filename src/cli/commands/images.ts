import { IMAGE_NAMES } from '../../runtime/docker/images.js';
import { createEngine } from '../engine.js';
import { outputMode, runSteps } from '../progress.js';

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
