// Precompiles the rig file's validator (ajv's standalone code) into dist/, so that the CLI neither loads ajv nor
// compiles the schema at start. `npm run build` runs it after tsc; dist/rigfile/check-schema.js compiles one
// itself when the file is missing or was made from another schema.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VALIDATOR_FILE, validatorSource } from '../dist/rigfile/check-schema.js';

writeFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'rigfile', VALIDATOR_FILE), validatorSource());
