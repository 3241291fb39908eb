// Bundles the CLI (dist/cli/main.js, and the keeper and reaper processes it starts) into dist/bundle/, which bin/rig
// runs. `npm run build` runs it after tsc. Why: Node's ES module loader pays for every file it loads (resolve, stat,
// open, read, compile), and a command such as `rig provision` loads about a hundred of rig's: a bundle of them (a few
// chunks, shared by the commands, each command's code loaded only when it runs) starts about 0.1 s sooner.
// The packages rig depends on stay in node_modules: dockerode is loaded in a way of its own (load-dockerode.ts).
// Files of the package are found from its root, not from a module's own place (src/package-root.ts).
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('scripts/bundle.mjs: esbuild is not installed (a devDependency of rig): run npm ci, then npm run build\n');
  process.exit(1);
}

const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: { rig: 'dist/cli/main.js', keeper: 'dist/cli/keeper.js', reaper: 'dist/cli/reaper.js' },
  outdir,
  bundle: true,
  splitting: true, // the commands' code in chunks of their own, loaded by their import() as before
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  define: { RIG_BUNDLED: 'true' }, // src/package-root.ts: rig's own processes run from the bundle too
  sourcemap: 'linked', // to src/ through tsc's maps: node --enable-source-maps dist/bundle/rig.js ...
  logLevel: 'warning',
});
