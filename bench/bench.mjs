#!/usr/bin/env node
// rig's benchmark (issue 6): rig against bare `docker run` and Debian's docker-compose, in one run on one machine,
// plus micro-benchmarks. See bench/README.md.
//
//   node bench/bench.mjs [--sizes 1,4,12,24] [--runs 5] [--json FILE] [--smoke] [--only macro|micro]
//                        [--contenders rig,bare,compose]
//
// The bench is TypeScript (bench/*.ts, main.ts first). This launcher compiles it to dist-bench/ with the
// checkout's tsc (bench/tsconfig.json) and runs it; a type error stops it before anything is measured.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(repo, 'dist-bench');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const compiled = spawnSync(process.execPath, [tsc, '-p', join(repo, 'bench', 'tsconfig.json')], { stdio: ['ignore', 2, 2] });
if (compiled.status !== 0) {
  process.stderr.write(
    `bench: compiling bench/ (tsc -p bench/tsconfig.json) failed${compiled.error ? `: ${compiled.error.message}` : ''}\n`,
  );
  process.exit(2);
}
const { main } = await import(pathToFileURL(join(out, 'main.js')).href);
await main(process.argv.slice(2));
