/**
 * Builders for JSON Schema (draft-07) nodes that carry, as a type, what they accept: Static<typeof node> is the type
 * of a value that passes. A few dozen lines instead of a schema library, whose hundreds of modules would take
 * longer to load than the rest of rig's CLI start.
 */

/**
 * What rig says when a value breaks the schema node that carries this (as `says`): the words, the fix and where.
 * A node whose constraints need different words splits them into allOf members, each with its own `says`; a member
 * inherits what it does not set from the nodes above it at the same place in the file.
 */
export interface Says {
  /** What belongs here: "must be <expected>, not <what it is>", "is empty; expected <expected>". */
  expected?: string;
  /** Who "must be": default none ("must be a map"); the root: "the rig file must be a map". */
  subject?: string;
  /** Instead of "is empty; expected ..." for a null value. */
  empty?: string;
  /** How to fix it. */
  hint?: string;
  /** The value has the right type but is not allowed (pattern, enum, length, range, not). Default: as a wrong type. */
  invalid?: (value: unknown) => string;
  /** The fix for an invalid value, if not `hint`. */
  invalidHint?: string | ((value: unknown) => string);
  /** Report an invalid value at its key rather than at the value. */
  at?: 'key';
  /** This key is required and absent: the message, the fix (default: hint), and where (default: at the key's place). */
  missing?: { message: string; hint?: string; at?: 'parent' | 'start' };
  /** A map: added to the "valid keys here" hint for an unknown key. */
  unknownKey?: (key: string) => string;
}

/** A schema node; T (never present at run time) is the type of the values it accepts. */
export type Schema<T = unknown> = { readonly [keyword: string]: unknown; readonly says?: Says; readonly static?: T };
export type Static<S> = S extends Schema<infer T> ? T : never;

/** Keywords beside the ones a builder sets: description, pattern, allOf... and says. */
export interface Options {
  description?: string;
  says?: Says;
  [keyword: string]: unknown;
}

export const string = (options: Options = {}): Schema<string> => ({ ...options, type: 'string' });
export const integer = (options: Options = {}): Schema<number> => ({ ...options, type: 'integer' });
export const boolean = (options: Options = {}): Schema<boolean> => ({ ...options, type: 'boolean' });
export const nullValue = (): Schema<null> => ({ type: 'null' });
export const anything = (options: Options = {}): Schema<unknown> => ({ ...options });

/** A string from a fixed list. */
export const enumOf = <T extends string>(values: readonly T[], options: Options = {}): Schema<T> => ({
  ...options,
  type: 'string',
  enum: values,
});

export const array = <T>(items: Schema<T>, options: Options = {}): Schema<T[]> => ({ ...options, type: 'array', items });

/** One of several schemas, which must differ in type (check-schema.ts picks the branch by the value's type). */
export const union = <S extends Schema[]>(anyOf: [...S], options: Options = {}): Schema<Static<S[number]>> => ({ ...options, anyOf });

/** A map of these keys and no others, each optional unless `required` names it. */
export const object = <P extends Record<string, Schema>, R extends keyof P & string = never>(
  properties: P,
  options: Options & { required?: R[] } = {},
): Schema<{ [K in R]: Static<P[K]> } & { [K in Exclude<keyof P, R>]?: Static<P[K]> }> => ({
  ...options,
  type: 'object',
  additionalProperties: false,
  properties,
});

/** A map whose keys are names (each passing `keys`) rather than a fixed list. */
export const map = <V>(keys: Schema<string>, value: Schema<V>, options: Options = {}): Schema<Record<string, V>> => ({
  ...options,
  type: 'object',
  propertyNames: keys,
  additionalProperties: value,
});

/** The properties of an object(): its keys in order. */
export const keysOf = (schema: Schema): string[] => Object.keys(schema.properties as object);
