// The JSON Schemas of rig's --json outputs (schema/), for tests to hold every output to its documented shape.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(import.meta.dirname, '..', 'schema');
// strictRequired off: the dry-run's if/then names properties its top level defines.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
ajv.addFormat('date-time', (text: string) => !Number.isNaN(Date.parse(text)));
export const outputSchemas = readdirSync(dir)
  .filter((f) => f.endsWith('.schema.json') && f !== 'rigfile.schema.json')
  .map((f) => f.replace('.schema.json', ''));
for (const name of outputSchemas) ajv.addSchema(JSON.parse(readFileSync(join(dir, `${name}.schema.json`), 'utf8')), name);

/** What is wrong with `value` as the output its schema `name` documents: nothing, an empty list. */
export function schemaErrors(name: string, value: unknown): string[] {
  const validate = ajv.getSchema(name);
  if (!validate) throw new Error(`no schema ${name} in ${dir}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}
