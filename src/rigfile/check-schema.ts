import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import { closest, describe, isMap, type Checker } from './checker.js';
import type { Says } from './json-schema.js';
import type { PathSeg } from './positions.js';
import { plainSchema, RIG_FILE_SCHEMA } from './schema.js';
import { packagePath } from '../package-root.js';

/**
 * The schema pass: validates a parsed rig file against schema.ts (ajv, every error at once), reports each problem
 * at its place with what rig says for that schema node, and returns the document with every value that broke the
 * schema taken out, so that the checks after it see only values of the right shape: a wrong key is gone, a wrong
 * value is undefined (its key, a node's name say, stays), and a list keeps its indexes.
 */
export function checkSchema(c: Checker, doc: unknown): unknown {
  validator ??= loadValidator();
  if (validator(doc)) return doc;
  const found = new Map<string, Found>();
  for (const error of withoutOtherBranches(validator.errors ?? [])) {
    const problem = problemOf(error, doc);
    const key = JSON.stringify(problem?.path);
    if (problem && !found.has(key)) found.set(key, problem); // one problem per place: the first the schema finds
  }
  let pruned = clone(doc);
  for (const { path, message, hint, at, prune } of found.values()) {
    c.report(path, message, hint, path.length === 0 && at !== 'value' ? 'start' : at);
    if (prune) pruned = remove(pruned, path, prune === 'key');
  }
  return pruned;
}

const AJV_OPTIONS: Options = { allErrors: true, verbose: true, strictTypes: false };
/** The validator `npm run build` precompiles (scripts/validator.mjs), in dist/rigfile/. */
export const VALIDATOR_FILE = 'validate-rigfile.cjs';

let validator: ValidateFunction | undefined;
const require = createRequire(import.meta.url);

/**
 * The precompiled validator, if it was made from this schema: loading ajv and compiling the schema would take
 * longer than the rest of the CLI's start. Else (not built, or built from another schema) compile it here.
 */
function loadValidator(): ValidateFunction {
  const file = packagePath('dist', 'rigfile', VALIDATOR_FILE);
  if (fs.existsSync(file)) {
    const precompiled = require(file) as ValidateFunction & { schemaText?: string };
    if (precompiled.schemaText === JSON.stringify(plainSchema())) return precompiled;
  }
  const { Ajv } = require('ajv') as typeof import('ajv');
  return new Ajv(AJV_OPTIONS).compile(plainSchema());
}

/** The source of the precompiled validator (a CommonJS module: ajv's standalone code, and the schema it is of). */
export function validatorSource(): string {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const standaloneCode = (require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js')).default;
  const schema = plainSchema();
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  return `${standaloneCode(ajv, ajv.compile(schema))}\nmodule.exports.schemaText = ${JSON.stringify(JSON.stringify(schema))};\n`;
}

interface Found {
  path: PathSeg[];
  message: string;
  hint: string;
  at: 'key' | 'value' | 'start';
  prune: 'key' | 'value' | false; // what is wrong: the key at path (and so its value), its value, or neither (a key is missing)
}

type Node = Record<string, unknown> & { says?: Says; properties?: Record<string, Node>; anyOf?: Node[]; type?: string };

function problemOf(error: ErrorObject, doc: unknown): Found | undefined {
  const { node, says } = schemaAt(error.schemaPath);
  const path = dataPath(error.instancePath, doc);
  const params = error.params as Record<string, string>;
  switch (error.keyword) {
    case 'if':
    case 'propertyNames': // the error inside says it, with the key
      return undefined;
    case 'additionalProperties': {
      const key = params.additionalProperty;
      const valid = Object.keys(node.properties ?? {});
      const near = closest(key, valid);
      const hint = `${near ? `did you mean ${near}? ` : ''}valid keys here: ${valid.join(', ')}${says.unknownKey?.(key) ?? ''}`;
      return { path: [...path, key], message: `unknown key "${key}"`, hint, at: 'key', prune: 'key' };
    }
    case 'required': {
      const key = params.missingProperty;
      const keySays = node.properties?.[key]?.says ?? {};
      const { message, hint = keySays.hint ?? '', at } = keySays.missing ?? { message: 'missing' };
      return { path: at === 'parent' ? path : [...path, key], message, hint, at: at === 'start' ? 'start' : 'key', prune: false };
    }
    case 'type':
    case 'anyOf': // no branch of a union takes a value of this type
      return { path, message: wrongType(says, error.data), hint: says.hint ?? '', at: 'value', prune: 'value' };
    default: {
      // The value (or, under propertyNames, the key) has the right type but is not allowed.
      const key = error.propertyName;
      const value = key ?? error.data;
      const hint = says.invalidHint ?? says.hint ?? '';
      return {
        path: key === undefined ? path : [...path, key],
        message: says.invalid?.(value) ?? wrongType(says, value),
        hint: typeof hint === 'function' ? hint(value) : hint,
        at: key !== undefined || says.at === 'key' ? 'key' : 'value',
        prune: key === undefined ? 'value' : 'key',
      };
    }
  }
}

function wrongType(says: Says, value: unknown): string {
  if (value === null || value === undefined) return says.empty ?? `is empty; expected ${says.expected}`;
  return `${says.subject ? `${says.subject} ` : ''}must be ${says.expected}, not ${describe(value)}`;
}

/**
 * A union (anyOf) reports the errors of every branch. Its branches differ in type: keep only the errors of the
 * branch of the value's type, and when there is none, the union's own error (a wrong type).
 */
function withoutOtherBranches(errors: ErrorObject[]): ErrorObject[] {
  const dropped = new Set<ErrorObject>();
  const unions = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const union of unions) {
    if (dropped.has(union)) continue;
    const branches = schemaAt(union.schemaPath).node.anyOf ?? [];
    const match = branches.findIndex((branch) => hasType(branch.type, union.data));
    if (match >= 0) dropped.add(union);
    const inside = `${union.schemaPath}/`;
    const within = (e: ErrorObject) => e.instancePath === union.instancePath || e.instancePath.startsWith(`${union.instancePath}/`);
    for (const e of errors) {
      if (e.schemaPath.startsWith(inside) && !e.schemaPath.startsWith(`${inside}${match}/`) && within(e)) dropped.add(e);
    }
  }
  return errors.filter((e) => !dropped.has(e));
}

function hasType(type: string | undefined, v: unknown): boolean {
  if (type === 'null') return v === null;
  if (type === 'array') return Array.isArray(v);
  if (type === 'object') return isMap(v);
  if (type === 'integer') return Number.isInteger(v);
  return typeof v === type;
}

const unescape = (segment: string) => segment.replaceAll('~1', '/').replaceAll('~0', '~');

/** Steps into a schema that lead to another place in the document. */
const MOVES = new Set(['properties', 'items', 'additionalProperties', 'propertyNames']);
/** Steps that name a child schema in two segments. */
const PAIRS = new Set(['properties', 'allOf', 'anyOf', 'oneOf']);

/**
 * The schema node holding the keyword at `schemaPath` (#/then/properties/nodes/type), and what it says: its own
 * `says` over those of the nodes above it at the same place in the document (an allOf member inherits the fix).
 */
export function schemaAt(schemaPath: string): { node: Node; says: Says } {
  const segments = schemaPath.split('/').slice(1, -1).map(unescape);
  let node = RIG_FILE_SCHEMA as unknown as Node;
  let says: Says = { ...node.says };
  for (let i = 0; i < segments.length;) {
    const step = PAIRS.has(segments[i]) ? 2 : 1;
    const moves = MOVES.has(segments[i]);
    for (const segment of segments.slice(i, i + step)) node = node[segment] as Node;
    i += step;
    says = moves ? { ...node.says } : { ...says, ...node.says };
  }
  return { node, says };
}

/** A JSON pointer (/nodes/barn.v.test/provision/0) as a path into the document: list indexes as numbers. */
function dataPath(pointer: string, doc: unknown): PathSeg[] {
  const path: PathSeg[] = [];
  let v = doc;
  for (const segment of pointer ? pointer.slice(1).split('/').map(unescape) : []) {
    const seg = Array.isArray(v) ? Number(segment) : segment;
    path.push(seg);
    v = isMap(v) || Array.isArray(v) ? (v as Record<PathSeg, unknown>)[seg] : undefined;
  }
  return path;
}

/** A deep copy, so that pruning one place leaves another that a YAML alias shares alone. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  return v;
}

/** Removes a key and its value from its map, or leaves the key with no value (undefined): the key's place stays known. */
function remove(doc: unknown, path: PathSeg[], key: boolean): unknown {
  if (path.length === 0) return undefined;
  let parent = doc;
  for (const seg of path.slice(0, -1))
    parent = isMap(parent) || Array.isArray(parent) ? (parent as Record<PathSeg, unknown>)[seg] : undefined;
  const last = path[path.length - 1];
  if (Array.isArray(parent) && typeof last === 'number') parent[last] = undefined;
  else if (isMap(parent) && key) delete parent[last];
  else if (isMap(parent)) parent[last] = undefined;
  return doc;
}
