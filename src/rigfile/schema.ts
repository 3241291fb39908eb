import { AUTO_SUBNET_PREFIX, dhcpLeases } from '../ipv4.js';
import * as J from './json-schema.js';
import type { Says, Schema, Static } from './json-schema.js';
import {
  HOSTNAME,
  FACT_NAME_PATTERN,
  ANSIBLE_GROUPS,
  CIDR,
  RIG_NAME,
  DEFAULT_POOL,
  DEFAULT_FILE,
  PREFIXES,
  NAME_RULE,
  HOST_RULE,
  FORM_HINT,
  NODES_EXAMPLE,
  MIRRORS_HINT,
  hostname,
  image,
  build,
  backend,
  init,
  facts,
  oneOrList,
  commands,
  validateTimeout,
} from './schema-parts.js';
import { Step, steps, Reaction, reactions, updateSteps } from './schema-steps.js';
import { lxdSettings, nodeLxdSettings } from './schema-lxd.js';

/**
 * The rig file's one definition: every key, type, allowed value and pattern, with what rig says when a value breaks
 * it. check-schema.ts validates against it (ajv) and places each problem in the file; load.ts then checks what a
 * schema cannot say (names against each other, subnet math, files on disk). schema/rigfile.schema.json, for
 * editors, is generated from it (`npm run schema`; a unit test fails when the checked-in file differs).
 */

// Nodes.

const liveNode = (description?: string) =>
  hostname(
    {
      expected: 'a host name',
      hint: MIRRORS_HINT,
      invalid: (v) => `"${String(v)}" is not a valid host name`,
      invalidHint: `${MIRRORS_HINT}; ${HOST_RULE}`,
    },
    description,
  );

const NodeSettings = J.object({
  mirrors: liveNode('Live node to mirror.'),
  roles: J.array(
    J.string({
      allOf: [
        { pattern: FACT_NAME_PATTERN },
        {
          not: { enum: ANSIBLE_GROUPS },
          says: {
            invalid: (r) => `"${String(r)}" is a name Ansible keeps for itself, and roles are Ansible's groups`,
            invalidHint: `rename the role; Ansible keeps ${ANSIBLE_GROUPS.join(', ')}`,
          } satisfies Says,
        },
      ],
      says: { expected: 'a role name (lowercase letters, digits, underscores)', hint: 'e.g. roles: [db, primary]' },
    }),
    {
      description: "The node's roles: inventory groups (rig inventory), and its roles fact.",
      says: { expected: 'a list of role names (lowercase letters, digits, underscores)', hint: 'e.g. roles: [db, primary]' },
    },
  ),
  image: image("give an image name, or remove image: to use the rig's image"),
  build: build("The node's image, built from a Dockerfile (as Compose builds one), instead of image:."),
  init: init('PID 1 of this node: rig or systemd.'),
  backend: backend(),
  lxd: nodeLxdSettings(),
  facts: facts(),
  provision: steps("The node's own provisioning steps, instead of the rig-wide ones."),
  on: reactions('What the node does, once ready, when a peer changes: its own reactions, instead of the rig-wide ones.'),
  needs: oneOrList(
    'a node name or node.fact',
    'e.g. needs: [redis1, redis1.redis_role]',
    'What the node waits for before provisioning: one need or a list.',
    'A node of this rig (full or short name), to wait until it is ready, or node.fact, to wait for that fact.',
  ),
  validate: commands('validate', "The node's own validation commands, instead of the rig-wide ones."),
  validate_timeout: validateTimeout("How long each of the node's validate commands may run, instead of the rig-wide setting."),
  update: updateSteps("The node's own update steps (rig update), instead of the rig-wide ones."),
});
export const NODE_KEYS = J.keysOf(NodeSettings);

const nodeName = J.string({
  maxLength: 253,
  pattern: HOSTNAME,
  says: { invalid: (k) => `"${String(k)}" is not a valid node name`, invalidHint: HOST_RULE },
});

/** The nodes map, of either form; `value` says what a node may be. */
const nodeMap = <V>(value: Schema<V>, options: J.Options) =>
  J.map(nodeName, value, {
    ...options,
    minProperties: 1,
    says: {
      expected: 'a map of node names',
      hint: NODES_EXAMPLE,
      invalid: () => 'no nodes',
      invalidHint: `list at least one node: ${FORM_HINT}`,
      at: 'key',
      missing: {
        message: 'missing: a rig file with settings must list its nodes under nodes:',
        hint: `add nodes: with one "name: live-name" line per node, ${NODES_EXAMPLE}`,
        at: 'start',
      },
    },
  });

const FullNodeValue = J.union([liveNode(), J.nullValue(), NodeSettings], {
  description: 'A live node name to mirror, a map of settings, or empty for a node that mirrors nothing.',
  says: {
    expected: 'a live node name, a map of settings, or empty',
    hint: `give the live node it mirrors, e.g. straleb.prod.example, a map with ${NODE_KEYS.map((k) => `${k}:`).join(', ')} or nothing`,
  },
});

const SimpleNodeValue = J.union([liveNode(), J.nullValue()], {
  says: {
    expected: 'a live node name or empty',
    hint: 'give the live node it mirrors, e.g. straleb.prod.example, or nothing; for per-node settings, put the nodes under nodes:',
  },
});

// The two forms of the rig file.

const CONFIGS_EXAMPLE = 'e.g.\n      configs:\n        - dir: hieradata/nodes\n          file: "{node}.yaml"';
const FILE_HINT = 'e.g. file: "{node}.yaml"; put the directory part in dir:';
const Config = J.object(
  {
    dir: J.string({
      description: 'Directory of per-node config files, relative to the rig file.',
      minLength: 1,
      says: {
        expected: 'a non-empty string',
        hint: 'give the directory holding one config file per live node, relative to the rig file',
        missing: { message: 'missing' },
      },
    }),
    file: J.string({
      description: `File name template inside dir; {node} is the live node name. Default: ${DEFAULT_FILE.config}.`,
      says: { expected: 'a non-empty string', hint: 'e.g. file: "{node}.yaml"' },
      allOf: [
        {
          pattern: '\\{node\\}',
          says: { invalid: () => 'must contain {node}, which stands for the live node name', invalidHint: FILE_HINT } satisfies Says,
        },
        {
          pattern: '^(?!/)(?!(.*[\\\\/])?\\.\\.([\\\\/]|$))',
          says: { invalid: () => 'must be a path inside dir (not absolute, no ..)', invalidHint: FILE_HINT } satisfies Says,
        },
      ],
    }),
    outside_repo: J.boolean({
      description:
        "Let rig make its links in a dir (or file's directory part) outside the rig file's repository (the nearest directory above it with a .git, else its own directory). Default: false.",
      says: {
        expected: 'true or false',
        hint: "outside_repo: true lets rig make links in a directory outside the rig file's repository",
      },
    }),
  },
  { required: ['dir'], says: { expected: 'a map with dir: and file:', hint: CONFIGS_EXAMPLE } },
);

const FACTS_FROM_EXAMPLE = 'e.g. facts_from: { dir: ../facts, file: "{node}.json" }';
const FactsFrom = J.object(
  {
    dir: J.string({
      description: 'Directory of the exports, relative to the rig file.',
      minLength: 1,
      says: { expected: 'a non-empty string', hint: FACTS_FROM_EXAMPLE, missing: { message: 'missing' } },
    }),
    file: J.string({
      description: `File name template; {node} is the live node name. Default: ${DEFAULT_FILE.facts}.`,
      pattern: '\\{node\\}',
      says: {
        expected: 'a non-empty string',
        hint: FACTS_FROM_EXAMPLE,
        invalid: () => 'must contain {node}, which stands for the live node name',
      },
    }),
    hardware: J.boolean({
      description:
        "Take the live node's hardware facts (memory, processors, disks, partitions, DMI, virtual, uptime) from production too. Default: false: they are the node's own, as Facter sees them in the rig, so code that sizes a heap or a buffer from them fits the node.",
      says: { expected: 'true or false', hint: 'hardware: true takes memory, processors and disks from production' },
    }),
  },
  {
    required: ['dir'],
    description:
      "Where each live node's facts, as exported from production (puppet facts show, or a PuppetDB facts query), are: JSON or YAML. They lie under rig's own facts. Default: none.",
    says: { expected: 'a map with dir: and file:', hint: FACTS_FROM_EXAMPLE },
  },
);

const cidr = (example: string, description: string) =>
  J.string({
    description,
    pattern: CIDR,
    says: { expected: 'an IPv4 network in CIDR notation', hint: `write it as a.b.c.d/prefix, e.g. ${example}` },
  });

const FORWARD_HINT = 'list the names under a live domain the rig may look up upstream, e.g. forward: [ntp.prod.example]';
const Network = J.object(
  {
    subnet: cidr(
      '10.213.7.0/24',
      `The rig's IPv4 network, prefix /${PREFIXES.subnet[0]} to /${PREFIXES.subnet[1]} (a /${PREFIXES.subnet[1]} leaves ${dhcpLeases(PREFIXES.subnet[1])} DHCP leases, a /24 ${dhcpLeases(24)}). Default: a free /${AUTO_SUBNET_PREFIX} from pool.`,
    ),
    pool: cidr(
      DEFAULT_POOL,
      `Where to allocate the rig's /${AUTO_SUBNET_PREFIX} from, prefix /${PREFIXES.pool[0]} to /${PREFIXES.pool[1]}. Default: ${DEFAULT_POOL}.`,
    ),
    internal: J.boolean({
      description: 'No route out of the machine. Default: false.',
      says: { expected: 'true or false', hint: 'internal: true cuts the rig off from the outside world' },
    }),
    forward: J.array(hostname({ expected: 'a DNS name', hint: FORWARD_HINT, invalid: (v) => `"${String(v)}" is not a valid DNS name` }), {
      description:
        "Names under a live domain (the domain of a node the rig mirrors) that the rig's DNS may look up upstream. Every other name under a live domain is NXDOMAIN. Default: none.",
      says: { expected: 'a list of DNS names', hint: FORWARD_HINT },
    }),
  },
  { says: { expected: 'a map', hint: 'e.g. network: { subnet: 10.213.7.0/24 }' } },
);

const FullForm = J.object(
  {
    name: J.string({
      description: 'Rig name, used in container, network and bridge names. Default: the file name without extension.',
      pattern: RIG_NAME.source,
      says: {
        expected: 'a non-empty string',
        hint: NAME_RULE,
        invalid: (v) => `"${String(v)}" is not a valid rig name (it is used in container and network names)`,
      },
    }),
    domain: hostname(
      {
        expected: 'a non-empty string',
        hint: 'e.g. domain: village.test',
        invalid: (v) => `"${String(v)}" is not a valid domain`,
        invalidHint: HOST_RULE,
      },
      'Domain of the made-up nodes. Default: the part after the first dot of the node names, if they all share it.',
    ),
    backend: backend('Container backend. Default: docker.'),
    lxd: lxdSettings(),
    image: image(
      "give an image name, or remove image: to use rig's own base image",
      "Node image for all nodes. Default: rig's own Debian base image.",
    ),
    build: build(
      "Node image for all nodes, built from a Dockerfile (as Compose builds one), instead of image:. FROM rig:base, rig:systemd or rig:puppet name rig's own images.",
    ),
    init: init(
      "PID 1 of every node: rig (rig's agent, the default) or systemd (rig's agent runs as a systemd service). Default image with systemd: rig:systemd.",
    ),
    network: Network,
    configs: J.array(Config, {
      description: 'Config trees to mirror. Default: hieradata/nodes next to the rig file, if it exists.',
      says: { expected: 'a list of config trees', hint: CONFIGS_EXAMPLE },
    }),
    facts: facts('Custom facts for all nodes.'),
    facts_from: FactsFrom,
    provision: steps('Provisioning steps for every node that has no provision: of its own. Default: none.'),
    on: reactions("Reactions of every node that has no on: of its own (a node's reactions to itself left out). Default: none."),
    validate: commands('validate', 'Validation commands (rig test) for every node that has no validate: of its own. Default: none.'),
    validate_timeout: validateTimeout(
      'How long each validate command may run (e.g. 30s, 5m) before it fails as timed out and its processes are ended; a node may override, rig test --timeout overrides both. Default: 5m.',
    ),
    update: updateSteps(
      'How every node is updated in place (rig update): shell commands run in the node and ansible: steps run from the host, then its validate commands.',
    ),
    nodes: nodeMap(FullNodeValue, { description: 'Made-up node names (full, or short with the domain appended) to what they mirror.' }),
  },
  {
    required: ['nodes'],
    description: 'Full form: settings, and the nodes under nodes:.',
    says: { unknownKey: (key) => (key.includes('.') ? '; nodes go under nodes:' : '') },
  },
);
/** The settings of the full form; a rig file with any of them at the top is of the full form. */
export const TOP_LEVEL_KEYS = J.keysOf(FullForm);

const SimpleForm = nodeMap(SimpleNodeValue, { description: 'Simple form: made-up node name -> live node name (or empty).' });

export type FullRigFile = Static<typeof FullForm>;
type SimpleRigFile = Static<typeof SimpleForm>;
export type NodeValue = Static<typeof FullNodeValue>;
export type RawStep = Static<typeof Step>;
export type RawReaction = Static<typeof Reaction>;
export type RawConfig = Static<typeof Config>;
export type RawNetwork = Static<typeof Network>;
export type RawLxd = Static<ReturnType<typeof lxdSettings>>;

export const RIG_FILE_SCHEMA: Schema<FullRigFile | SimpleRigFile> = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/rig/rig/schema/rigfile.schema.json',
  title: 'rig file',
  description:
    'A throwaway container test rig. Simple form: a map of made-up node names to the live nodes they mirror. Full form: settings plus a nodes: map.',
  type: 'object',
  says: { subject: 'the rig file', expected: 'a map', empty: 'the rig file is empty', hint: FORM_HINT },
  if: { anyOf: TOP_LEVEL_KEYS.map((k) => ({ required: [k] })) },
  then: FullForm,
  else: SimpleForm,
};

/** The schema as JSON Schema: without what rig says (`says`), which is for rig's messages. */
export const plainSchema = (): Record<string, unknown> =>
  JSON.parse(JSON.stringify(RIG_FILE_SCHEMA, (k, v) => (k === 'says' ? undefined : v)));

/** The text of schema/rigfile.schema.json, for editors. */
export const rigFileJsonSchema = (): string => json(plainSchema(), '') + '\n';

const FIRST = ['$schema', '$id', 'title', 'description', 'type'];

/** JSON with the keys above first, and what fits in a line on one line. */
function json(v: unknown, indent: string): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  const inner = indent + '  ';
  const entries = Array.isArray(v)
    ? v.map((x) => json(x, inner))
    : Object.keys(v)
        .sort((a, b) => (FIRST.indexOf(a) + 1 || 99) - (FIRST.indexOf(b) + 1 || 99))
        .map((k) => `${JSON.stringify(k)}: ${json((v as Record<string, unknown>)[k], inner)}`);
  const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
  const pad = Array.isArray(v) || !entries.length ? '' : ' ';
  const line = `${open}${pad}${entries.join(', ')}${pad}${close}`;
  if (!line.includes('\n') && indent.length + line.length <= 120) return line;
  return `${open}\n${entries.map((e) => inner + e).join(',\n')}\n${indent}${close}`;
}
