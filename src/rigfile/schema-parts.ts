import { AUTO_SUBNET_PREFIX, SMALLEST_RIG_SUBNET } from '../ipv4.js';
import * as J from './json-schema.js';
import type { Says } from './json-schema.js';
import { BACKEND_KINDS } from '../runtime/kinds.js';

/** The rig file schema's building blocks: its patterns, rules, hints, and the small schemas every part of it uses. */

// Patterns, each written once: the schema holds them, and code that needs the same test compiles them from here.
export const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
export const HOSTNAME = `^${LABEL}(\\.${LABEL})*$`;
export const FACT_NAME_PATTERN = '^[a-z_][a-z0-9_]*$';
export const OCTET = '(25[0-5]|2[0-4]\\d|[01]?\\d?\\d)';
export const CIDR = `^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}/\\d{1,2}$`;
export const RIG_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/;
export const FACT_NAME = new RegExp(FACT_NAME_PATTERN);

export const INITS = ['rig', 'systemd'] as const;
/** Facts rig sets itself; a rig file may not set them. */
export const RESERVED_FACTS = [
  'hostname',
  'fqdn',
  'domain',
  'ipaddress',
  'netmask',
  'netmask_length',
  'macaddress',
  'roles',
  'os',
  'os_release',
  'kernel',
  'rig',
  'mirrors',
  'stage',
] as const;
/** Group names Ansible keeps (an inventory script's `_meta` among them): no role may have one. */
export const ANSIBLE_GROUPS = ['all', 'ungrouped', '_meta'] as const;
export const DEFAULT_POOL = '10.213.0.0/16';
/** The file: of a config tree and of facts_from when they have none. */
export const DEFAULT_FILE = { config: '{node}.yaml', facts: '{node}.json' } as const;
/** The prefixes network.subnet and network.pool may have (checked in load.ts: a pattern cannot say it well). */
export const PREFIXES = { subnet: [16, SMALLEST_RIG_SUBNET], pool: [8, AUTO_SUBNET_PREFIX] } as const;

export const NAME_RULE = 'use 1-24 lowercase letters, digits and hyphens, starting with a letter or digit';
export const HOST_RULE = 'use dot-separated labels of lowercase letters, digits and hyphens, not starting or ending with a hyphen';
export const FORM_HINT =
  'write one "made-up-name: live-name" line per node (e.g. barn.village.test: straleb.prod.example), ' +
  'or a map with a nodes: key and optional settings';
export const NODES_EXAMPLE = 'e.g.\n      nodes:\n        barn.village.test: straleb.prod.example';
export const STEP_EXAMPLE =
  'e.g.\n      provision:\n        - shell: echo hello\n        - script: scripts/setup.sh\n        - puppet: control-repo/manifests/site.pp';
export const MIRRORS_HINT = "give the live node's host name, e.g. straleb.prod.example";

export const hostname = (says: Says, description?: string) =>
  J.string({ ...(description && { description }), maxLength: 253, pattern: HOSTNAME, says });

/** A string from a fixed list: "unknown <what> "x"", else "must be a <what> name". */
export const oneOf = <T extends string>(values: readonly T[], what: string, hint: string, description?: string) =>
  J.enumOf(values, {
    ...(description && { description }),
    says: { expected: `${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} name`, hint, invalid: (v) => `unknown ${what} "${String(v)}"` },
  });

export const image = (hint: string, description?: string) =>
  J.string({ ...(description && { description }), minLength: 1, says: { expected: 'a non-empty string', hint } });

export const backend = (description?: string) => oneOf(BACKEND_KINDS, 'backend', `use one of: ${BACKEND_KINDS.join(', ')}`, description);

export const init = (description: string) =>
  oneOf(
    INITS,
    'init',
    "use init: systemd (systemd as PID 1, for units and `service`), or init: rig (rig's agent as PID 1, the default)",
    description,
  );

export const facts = (description?: string) =>
  J.map(
    J.string({
      allOf: [
        {
          pattern: FACT_NAME_PATTERN,
          says: {
            invalid: (k) => `"${String(k)}" is not a valid fact name`,
            invalidHint: 'use lowercase letters, digits and underscores, starting with a letter or underscore',
          } satisfies Says,
        },
        {
          not: { enum: RESERVED_FACTS },
          says: {
            invalid: (k) => `"${String(k)}" is set by rig itself and cannot be a custom fact`,
            invalidHint: `rename it; reserved fact names: ${RESERVED_FACTS.join(', ')}`,
          } satisfies Says,
        },
      ],
    }),
    J.anything({
      not: { type: 'null' },
      says: { invalid: () => 'has no value', invalidHint: 'give the fact a value (quote it to get a string), or remove it', at: 'key' },
    }),
    { ...(description && { description }), says: { expected: 'a map of fact names to values', hint: 'e.g. facts: { datacentre: test }' } },
  );

/** One string or a list of them, each a non-blank line of shell or a need. */
export const oneOrList = (what: string, hint: string, description: string, itemDescription?: string) => {
  const item = J.string({ ...(itemDescription && { description: itemDescription }), pattern: '\\S', says: { expected: what, hint } });
  return J.union([item, J.array(item)], { description, says: { expected: `${what} or a list of them`, hint } });
};

export const commands = (key: string, description: string) => oneOrList('a shell command', `e.g. ${key}: ["redis-cli ping"]`, description);

/** A duration as the command line takes it (90s, 5m, 1m30s, 90), not zero; load.ts reads it as seconds. */
export const DURATION = /^(?:(\d+)m)?(?:(\d+)s?)?$/;
/** The longest duration rig can wait (what a timer of Node's holds), in seconds. */
export const MAX_DURATION_SECONDS = 2_147_483;
export const DURATION_HINT = 'write e.g. 30s, 5m or 1m30s (a bare number is seconds)';

export const validateTimeout = (description: string) =>
  J.union(
    [
      J.string({
        pattern: `(?=.*[1-9])${DURATION.source}`,
        says: { expected: 'a duration', hint: DURATION_HINT, invalid: (v) => `"${String(v)}" is not a duration (or is zero)` },
      }),
      J.integer({
        minimum: 1,
        maximum: MAX_DURATION_SECONDS,
        says: { expected: 'a number of seconds', hint: DURATION_HINT, invalid: (v) => `${String(v)} seconds is not a time rig can wait` },
      }),
    ],
    { description, says: { expected: 'a duration (30s, 5m, 1m30s) or a number of seconds', hint: DURATION_HINT } },
  );

export const BUILD_HINT = 'e.g. build: ./image, or build: { context: ./image, dockerfile: Dockerfile, args: { VERSION: "1.2" } }';
const BUILD_ARG_HINT = 'e.g. args: { VERSION: "1.2" }: names of letters, digits and underscores, each with a string, number or true/false';

/** build: a context directory, or a map with context:, dockerfile: and args: (as Compose has it). */
export const build = (description: string) =>
  J.union(
    [
      J.string({ minLength: 1, says: { expected: 'a directory', hint: BUILD_HINT } }),
      J.object(
        {
          context: J.string({
            description: 'Directory sent to the build, relative to the rig file.',
            minLength: 1,
            says: { expected: 'a directory', hint: BUILD_HINT, missing: { message: 'missing: the directory to build from' } },
          }),
          dockerfile: J.string({
            description: 'The Dockerfile, relative to the context. Default: Dockerfile.',
            minLength: 1,
            says: { expected: 'a file name', hint: 'e.g. dockerfile: Dockerfile.test (relative to the context)' },
          }),
          args: J.map(
            J.string({
              pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
              says: { invalid: (k) => `"${String(k)}" is not a build argument name`, invalidHint: BUILD_ARG_HINT },
            }),
            J.union([J.string(), J.anything({ type: 'number' }), J.boolean()], {
              says: { expected: 'a string, number or true/false', hint: BUILD_ARG_HINT },
            }),
            { description: "Build arguments (the Dockerfile's ARG)", says: { expected: 'a map of build arguments', hint: BUILD_ARG_HINT } },
          ),
        },
        { required: ['context'], says: { expected: 'a directory or a map with context:', hint: BUILD_HINT } },
      ),
    ],
    { description, says: { expected: 'a directory or a map with context:, dockerfile:, args:', hint: BUILD_HINT } },
  );
