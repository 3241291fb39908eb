// Precompiles the rig file's validator (ajv standalone code) into dist/, so that the CLI neither loads ajv nor
// compiles the schema at start. `npm run build` runs it after tsc; dist/rigfile/check-schema.js falls back to
// compiling when the file is missing or was made from another schema.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AJV_OPTIONS, VALIDATOR_FILE } from '../dist/rigfile/check-schema.js';
import { plainSchema } from '../dist/rigfile/schema.js';

const require = createRequire(import.meta.url);
const { Ajv } = require('ajv');
const standaloneCode = require('ajv/dist/standalone').default;

const schema = plainSchema();
const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
const code = standaloneCode(ajv, ajv.compile(schema));
const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'rigfile', VALIDATOR_FILE);
writeFileSync(file, `${code}\nmodule.exports.schemaText = ${JSON.stringify(JSON.stringify(schema))};\n`);
