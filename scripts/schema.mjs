// Writes schema/rigfile.schema.json from the rig file's one definition, src/rigfile/schema.ts (built into dist/).
// `npm run schema` builds and runs it; test/unit/rigfile.test.ts fails while the checked-in file differs.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rigFileJsonSchema } from '../dist/rigfile/schema.js';

writeFileSync(fileURLToPath(import.meta.resolve('../schema/rigfile.schema.json')), rigFileJsonSchema());
