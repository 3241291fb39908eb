import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { RigFileError, errorMessage } from '../errors.js';
import { SIDECAR } from '../labels.js';
import { Checker, FACT_NAME, describe, has, isMap, type YamlMap } from './checker.js';
import { parseYaml, type ParsedYaml, type PathSeg } from './positions.js';
import { AUTO_SUBNET_PREFIX, DHCP_POOL_OFFSET, dhcpLeases, SMALLEST_RIG_SUBNET } from '../ipv4.js';
import { checkNeeds, checkSteps, checkValidate, needList, type RawNeed } from './steps.js';
import type { BackendKind, ConfigTree, InitKind, NetworkSpec, NodeSpec, ProvisionStep, RigSpec } from './types.js';

// Known keys; schema/rigfile.schema.json must list exactly these (a unit test checks).
export const TOP_LEVEL_KEYS = [
  'name',
  'domain',
  'backend',
  'image',
  'init',
  'network',
  'configs',
  'facts',
  'facts_from',
  'provision',
  'validate',
  'update',
  'nodes',
] as const;
const FACTS_FROM_KEYS = ['dir', 'file'] as const;
export const NODE_KEYS = ['mirrors', 'roles', 'image', 'init', 'backend', 'facts', 'provision', 'needs', 'validate', 'update'] as const;
export { PUPPET_KEYS, STEP_KINDS } from './checker.js';
export const NETWORK_KEYS = ['subnet', 'pool', 'internal', 'forward'] as const;
export const CONFIG_KEYS = ['dir', 'file', 'outside_repo'] as const;
const BACKENDS: readonly BackendKind[] = ['docker', 'lxc'];
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
const DEFAULT_POOL = '10.213.0.0/16';
const DEFAULT_CONFIG_FILE = '{node}.yaml';

export const RIG_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const NAME_RULE = 'use 1-24 lowercase letters, digits and hyphens, starting with a letter or digit';
const HOST_RULE = 'use dot-separated labels of lowercase letters, digits and hyphens, not starting or ending with a hyphen';
const FORM_HINT =
  'write one "made-up-name: live-name" line per node (e.g. barn.village.test: straleb.prod.example), ' +
  'or a map with a nodes: key and optional settings';

export interface LoadOptions {
  name?: string; // overrides the name in the file and the default from the file name
}

const isHostname = (s: string) => s.length <= 253 && s.split('.').every((l) => LABEL.test(l));

export function loadRigFile(file: string, opts: LoadOptions = {}): RigSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : errorMessage(err);
    const hint = `check the path (it resolves to ${path.resolve(file)})`;
    throw new RigFileError([{ file, line: 1, column: 1, path: '', message: `cannot read rig file: ${reason}`, hint }]);
  }
  return parseRigFile(text, file, opts);
}

/** Limits on what a rig file may hold, so that nothing past them reaches YAML expansion, etcd or a node's environment. */
export const LIMITS = {
  fileBytes: 1024 * 1024,
  values: 100_000, // every value, counted each time an alias repeats it: stops an alias bomb before it expands
  factBytes: 16 * 1024, // one custom fact's value
  nodeBytes: 64 * 1024, // a node's custom facts together, and its shell steps together (they ride in its environment)
} as const;

const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;

/** How many values `root` holds when every alias is expanded, counting no further than `limit`. */
function countValues(root: unknown, limit: number): number {
  let count = 0;
  const stack = [root];
  while (stack.length && count <= limit) {
    const v = stack.pop();
    count++;
    const children = Array.isArray(v) ? v : v !== null && typeof v === 'object' ? Object.values(v) : [];
    for (const child of children) stack.push(child);
  }
  return count;
}

export function parseRigFile(text: string, file: string, opts: LoadOptions = {}): RigSpec {
  const bytes = Buffer.byteLength(text);
  if (bytes > LIMITS.fileBytes) {
    const message = `the rig file is ${kib(bytes)}; rig reads rig files of at most ${kib(LIMITS.fileBytes)}`;
    throw new RigFileError([
      {
        file,
        line: 1,
        column: 1,
        path: '',
        message,
        hint: 'keep scripts and data in files next to the rig file, and name them from it (script:, configs:)',
      },
    ]);
  }
  let doc: ParsedYaml;
  try {
    doc = parseYaml(text);
  } catch (err) {
    if (!(err instanceof yaml.YAMLException)) throw err;
    const duplicate = err.reason === 'duplicated mapping key';
    throw new RigFileError([
      {
        file,
        line: (err.mark?.line ?? 0) + 1,
        column: (err.mark?.column ?? 0) + 1,
        path: '',
        message: `YAML syntax error: ${err.reason}`,
        hint: duplicate
          ? 'each key may appear only once in a map: remove or rename one of them'
          : 'check indentation (spaces, not tabs), quoting and brackets around this spot',
      },
    ]);
  }
  const c = new Checker(file, doc);
  if (countValues(doc.value, LIMITS.values) > LIMITS.values) {
    const message = `the rig file expands to more than ${LIMITS.values} values (its YAML aliases repeat too much)`;
    throw new RigFileError([
      { file, line: 1, column: 1, path: '', message, hint: 'write the values out, or use fewer nested aliases (*name)' },
    ]);
  }
  for (const { path: p, written, read } of doc.nonStringKeys) {
    const hint = `rig takes keys as names: quote it ("${written}") to mean the name as written`;
    c.report(
      p,
      `YAML reads the key ${written} as ${read === null ? 'null' : `the ${typeof read} ${String(read)}`}, not as the name ${written}`,
      hint,
    );
  }
  if (c.problems.length) throw new RigFileError(c.problems);
  const spec = checkRig(c, doc.value, file, opts);
  if (c.problems.length || !spec) {
    throw new RigFileError(c.problems.sort((a, b) => a.line - b.line || a.column - b.column));
  }
  return spec;
}

function checkRig(c: Checker, root: unknown, file: string, opts: LoadOptions): RigSpec | undefined {
  if (!isMap(root)) {
    const message = root === null || root === undefined ? 'the rig file is empty' : `the rig file must be a map, not ${describe(root)}`;
    c.report([], message, FORM_HINT, root === null || root === undefined ? 'start' : 'value');
    return undefined;
  }
  const rigDir = path.dirname(path.resolve(file));
  // Any known setting at the top level means the full form; otherwise every key is a node.
  const full = Object.keys(root).some((k) => (TOP_LEVEL_KEYS as readonly string[]).includes(k));
  const settings: YamlMap = full ? root : {};
  if (full) {
    c.unknownKeys(root, [], TOP_LEVEL_KEYS, (key) => (key.includes('.') ? '; nodes go under nodes:' : ''));
    if (!has(root, 'nodes')) {
      const hint = `add nodes: with one "name: live-name" line per node, e.g.\n      nodes:\n        barn.village.test: straleb.prod.example`;
      c.report(['nodes'], 'missing: a rig file with settings must list its nodes under nodes:', hint, 'start');
    }
  }

  const name = checkName(c, settings, file, opts);
  let domain = c.string(settings, 'domain', [], 'e.g. domain: village.test');
  if (domain !== undefined && !isHostname(domain)) {
    c.report(['domain'], `"${domain}" is not a valid domain`, HOST_RULE, 'value');
    domain = undefined;
  }
  const rig = {
    backend: checkBackend(c, settings, []) ?? 'docker',
    image: c.string(settings, 'image', [], "give an image name, or remove image: to use rig's own base image"),
    init: checkInit(c, settings, []) ?? 'rig',
    facts: has(settings, 'facts') ? checkFacts(c, settings.facts, ['facts']) : {},
    provision: has(settings, 'provision') ? checkSteps(c, settings.provision, ['provision'], rigDir) : [],
    validate: has(settings, 'validate') ? checkValidate(c, settings.validate, ['validate']) : [],
    update: has(settings, 'update') ? checkValidate(c, settings.update, ['update']) : [],
    rigDir,
  };
  const network = checkNetwork(c, settings);
  const configs = has(settings, 'configs') ? checkConfigs(c, settings.configs, rigDir) : defaultConfigs(rigDir);

  if (full && !has(root, 'nodes')) return undefined;
  const nodesPath = full ? ['nodes'] : [];
  const nodesValue = full ? root.nodes : root;
  if (!isMap(nodesValue)) {
    c.typeError(nodesPath, nodesValue, 'a map of node names', 'e.g.\n      nodes:\n        barn.village.test: straleb.prod.example');
    return undefined;
  }
  const found = checkNodes(c, nodesValue, nodesPath, { ...rig, domain, simple: !full });
  if (!found) return undefined;
  checkCapacity(c, found.nodes.length, network, nodesPath);
  const factsFrom = has(settings, 'facts_from') ? checkFactsFrom(c, settings.facts_from, rigDir) : undefined;
  return {
    file: path.resolve(file),
    dir: rigDir,
    name,
    domain: found.domain,
    image: rig.image,
    network,
    configs,
    factsFrom,
    nodes: found.nodes,
    warnings: settingsWordNodes(file, found.nodes),
  };
}

/** A node's custom facts and shell steps ride in its environment, where one variable holds at most 128 KiB. */
function checkNodeSize(c: Checker, node: NodeSpec, p: PathSeg[]): void {
  const bytes = (texts: string[]) => texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const facts = bytes(Object.entries(node.facts).flat());
  const steps = bytes(node.provision.map((s) => (s.kind === 'shell' ? s.script : '')));
  for (const [what, size] of [
    ['custom facts', facts],
    ['shell steps', steps],
  ] as const) {
    if (size > LIMITS.nodeBytes) {
      const hint =
        what === 'shell steps'
          ? 'move the script into a file next to the rig file and run it with script:'
          : 'keep large data in files the node reads from the repo';
      c.report(p, `the node's ${what} come to ${kib(size)}; a node's ${what} may take at most ${kib(LIMITS.nodeBytes)}`, hint);
    }
  }
}

function checkFactsFrom(c: Checker, value: unknown, rigDir: string): ConfigTree | undefined {
  const example = 'e.g. facts_from: { dir: ../facts, file: "{node}.json" }';
  if (!isMap(value)) {
    c.typeError(['facts_from'], value, 'a map with dir: and file:', example);
    return undefined;
  }
  c.unknownKeys(value, ['facts_from'], FACTS_FROM_KEYS);
  const dir = c.string(value, 'dir', ['facts_from'], example);
  if (!has(value, 'dir')) c.report(['facts_from', 'dir'], 'missing', example);
  const file = c.string(value, 'file', ['facts_from'], example) ?? '{node}.json';
  if (!file.includes('{node}'))
    c.report(['facts_from', 'file'], 'must contain {node}, which stands for the live node name', example, 'value');
  return dir === undefined ? undefined : { dir: path.resolve(rigDir, dir), file };
}

function checkName(c: Checker, settings: YamlMap, file: string, opts: LoadOptions): string {
  const inFile = c.string(settings, 'name', [], NAME_RULE);
  if (inFile !== undefined && !RIG_NAME.test(inFile)) {
    c.report(['name'], `"${inFile}" is not a valid rig name (it is used in container and network names)`, NAME_RULE, 'value');
  }
  if (opts.name !== undefined) {
    if (!RIG_NAME.test(opts.name)) {
      c.report(['name'], `the rig name given on the command line, "${opts.name}", is not valid`, NAME_RULE, 'start');
    }
    return opts.name;
  }
  if (inFile !== undefined) return inFile;
  const base = path.basename(file, path.extname(file));
  if (!RIG_NAME.test(base)) {
    const message = `the rig name defaults to the file name, "${base}", which is not a valid rig name`;
    c.report(['name'], message, `set name: in the rig file or rename the file; ${NAME_RULE}`, 'start');
  }
  return base;
}

function checkBackend(c: Checker, obj: YamlMap, p: PathSeg[]): BackendKind | undefined {
  if (!has(obj, 'backend')) return undefined;
  const v = obj.backend;
  if (BACKENDS.includes(v as BackendKind)) return v as BackendKind;
  const hint = `use one of: ${BACKENDS.join(', ')}`;
  if (typeof v === 'string') c.report([...p, 'backend'], `unknown backend "${v}"`, hint, 'value');
  else c.typeError([...p, 'backend'], v, 'a backend name', hint);
  return undefined;
}

/** A node whose short name is a setting's (`mirrors:` one level too shallow becomes a node mirrors.<domain>). */
function settingsWordNodes(file: string, nodes: NodeSpec[]): string[] {
  const words: readonly string[] = [...NODE_KEYS, ...TOP_LEVEL_KEYS];
  return nodes
    .filter((n) => words.includes(n.shortName))
    .map(
      (n) => `${file}:${n.line}: node ${n.name} is named like the setting ${n.shortName}:; if it is that setting, indent it under its node`,
    );
}

const INITS: InitKind[] = ['rig', 'systemd'];

function checkInit(c: Checker, obj: YamlMap, p: PathSeg[]): InitKind | undefined {
  if (!has(obj, 'init')) return undefined;
  const v = obj.init;
  if (INITS.includes(v as InitKind)) return v as InitKind;
  const hint = "use init: systemd (systemd as PID 1, for units and `service`), or init: rig (rig's agent as PID 1, the default)";
  if (typeof v === 'string') c.report([...p, 'init'], `unknown init "${v}"`, hint, 'value');
  else c.typeError([...p, 'init'], v, 'an init name', hint);
  return undefined;
}

function checkFacts(c: Checker, value: unknown, p: PathSeg[]): Record<string, string> {
  const facts: Record<string, string> = {};
  if (!isMap(value)) {
    c.typeError(p, value, 'a map of fact names to values', 'e.g. facts: { datacentre: test }');
    return facts;
  }
  for (const [key, v] of Object.entries(value)) {
    const fp = [...p, key];
    if (!FACT_NAME.test(key)) {
      const hint = 'use lowercase letters, digits and underscores, starting with a letter or underscore';
      c.report(fp, `"${key}" is not a valid fact name`, hint);
    } else if ((RESERVED_FACTS as readonly string[]).includes(key)) {
      const hint = `rename it; reserved fact names: ${RESERVED_FACTS.join(', ')}`;
      c.report(fp, `"${key}" is set by rig itself and cannot be a custom fact`, hint);
    } else if (v === null) {
      c.report(fp, 'has no value', 'give the fact a value (quote it to get a string), or remove it');
    } else {
      const value = typeof v === 'string' ? v : JSON.stringify(v);
      if (Buffer.byteLength(value) > LIMITS.factBytes) {
        c.report(
          fp,
          `the value is ${kib(Buffer.byteLength(value))}; a fact may hold at most ${kib(LIMITS.factBytes)}`,
          'keep large data in a file the node reads from the repo, and publish its path',
        );
      } else {
        facts[key] = value;
      }
    }
  }
  return facts;
}

function checkNetwork(c: Checker, settings: YamlMap): NetworkSpec {
  const network: NetworkSpec = { pool: DEFAULT_POOL, internal: false, forward: [] };
  if (!has(settings, 'network')) return network;
  const v = settings.network;
  if (!isMap(v)) {
    c.typeError(['network'], v, 'a map', 'e.g. network: { subnet: 10.213.7.0/24 }');
    return network;
  }
  c.unknownKeys(v, ['network'], NETWORK_KEYS);
  network.subnet = checkCidr(c, v, 'subnet', 16, SMALLEST_RIG_SUBNET);
  network.pool = checkCidr(c, v, 'pool', 8, AUTO_SUBNET_PREFIX) ?? DEFAULT_POOL;
  if (has(v, 'forward')) {
    const hint = 'list the names under a live domain the rig may look up upstream, e.g. forward: [ntp.prod.example]';
    if (Array.isArray(v.forward) && v.forward.every((f) => typeof f === 'string' && isHostname(f))) network.forward = v.forward as string[];
    else c.typeError(['network', 'forward'], v.forward, 'a list of DNS names', hint);
  }
  if (has(v, 'internal')) {
    if (typeof v.internal === 'boolean') network.internal = v.internal;
    else c.typeError(['network', 'internal'], v.internal, 'true or false', 'internal: true cuts the rig off from the outside world');
  }
  return network;
}

/** Every node needs a DHCP lease: more nodes than the subnet has leases is found here, before anything is made. */
function checkCapacity(c: Checker, nodes: number, network: NetworkSpec, nodesPath: PathSeg[]): void {
  const prefix = network.subnet ? Number(network.subnet.split('/')[1]) : AUTO_SUBNET_PREFIX;
  const leases = dhcpLeases(prefix);
  if (nodes <= leases) return;
  const where = network.subnet ? `network.subnet ${network.subnet}` : `a /${AUTO_SUBNET_PREFIX} from the pool`;
  const fits = 32 - Math.ceil(Math.log2(nodes + DHCP_POOL_OFFSET + 1)); // the longest prefix with enough leases
  const hint = `set network.subnet to a /${fits} or larger (e.g. subnet: 10.214.0.0/${fits}), or split the rig`;
  const [at, p] = network.subnet ? (['value', ['network', 'subnet']] as const) : ([nodesPath.length ? 'key' : 'start', nodesPath] as const);
  c.report([...p], `${nodes} nodes, but ${where} offers only ${leases} DHCP leases`, hint, at);
}

function checkCidr(c: Checker, obj: YamlMap, key: string, minPrefix: number, maxPrefix: number): string | undefined {
  if (!has(obj, key)) return undefined;
  const v = obj[key];
  const p = ['network', key];
  const example = key === 'pool' ? DEFAULT_POOL : '10.213.7.0/24';
  const m = typeof v === 'string' ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v) : null;
  const octets = m ? m.slice(1, 5).map(Number) : [];
  if (typeof v !== 'string' || !m || octets.some((o) => o > 255)) {
    c.typeError(p, v, 'an IPv4 network in CIDR notation', `write it as a.b.c.d/prefix, e.g. ${example}`);
    return undefined;
  }
  const prefix = Number(m[5]);
  if (prefix < minPrefix || prefix > maxPrefix) {
    const why =
      key === 'subnet' && prefix > maxPrefix ? ` (a rig subnet needs ${DHCP_POOL_OFFSET} addresses of its own before its DHCP pool)` : '';
    c.report(p, `prefix /${prefix} is out of range${why}`, `use a prefix from /${minPrefix} to /${maxPrefix}, e.g. ${example}`, 'value');
    return undefined;
  }
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  const network = address - (address % 2 ** (32 - prefix));
  if (network !== address) {
    const dotted = [24, 16, 8, 0].map((s) => Math.floor(network / 2 ** s) % 256).join('.');
    c.report(p, `"${v}" is not a network address (host bits are set)`, `use ${dotted}/${prefix}`, 'value');
    return undefined;
  }
  return v;
}

function checkConfigs(c: Checker, value: unknown, rigDir: string): ConfigTree[] {
  const example = 'e.g.\n      configs:\n        - dir: hieradata/nodes\n          file: "{node}.yaml"';
  if (!Array.isArray(value)) {
    c.typeError(['configs'], value, 'a list of config trees', example);
    return [];
  }
  const configs: ConfigTree[] = [];
  value.forEach((item: unknown, i) => {
    const p = ['configs', i];
    if (!isMap(item)) return c.typeError(p, item, 'a map with dir: and file:', example);
    c.unknownKeys(item, p, CONFIG_KEYS);
    const dirHint = 'give the directory holding one config file per live node, relative to the rig file';
    const dir = c.string(item, 'dir', p, dirHint);
    if (!has(item, 'dir')) c.report([...p, 'dir'], 'missing', dirHint);
    const file = c.string(item, 'file', p, 'e.g. file: "{node}.yaml"') ?? DEFAULT_CONFIG_FILE;
    const fileProblem = !file.includes('{node}')
      ? 'must contain {node}, which stands for the live node name'
      : path.isAbsolute(file) || file.split(/[\\/]/).includes('..')
        ? 'must be a path inside dir (not absolute, no ..)'
        : undefined;
    if (fileProblem) c.report([...p, 'file'], fileProblem, 'e.g. file: "{node}.yaml"; put the directory part in dir:', 'value');
    let outsideRepo = false;
    if (has(item, 'outside_repo')) {
      if (typeof item.outside_repo === 'boolean') outsideRepo = item.outside_repo;
      else
        c.typeError(
          [...p, 'outside_repo'],
          item.outside_repo,
          'true or false',
          "outside_repo: true lets rig make links in a directory outside the rig file's repository",
        );
    }
    if (dir === undefined) return;
    // rig makes its links in dir, or in the directory part of file under it ("sub/{node}.yaml": dir/sub).
    const parts = file.split('/');
    const sub = fileProblem
      ? ''
      : parts
          .slice(
            0,
            parts.findIndex((part) => part.includes('{node}')),
          )
          .join('/');
    const confined = (key: string, where: string) => outsideRepo || checkInsideRepo(c, [...p, key], where, rigDir);
    if (!confined('dir', dir) || (sub && !confined('file', path.join(dir, sub)))) return;
    if (sub && isDirectory(path.resolve(rigDir, dir)) && !isDirectory(path.resolve(rigDir, dir, sub))) {
      const hint = 'make that directory, or fix file: so that its directory part exists under dir';
      return c.report(
        [...p, 'file'],
        `there is no directory ${path.join(dir, sub)}, where rig would make the links of "${file}"`,
        hint,
        'value',
      );
    }
    configs.push({ dir: path.resolve(rigDir, dir), file });
  });
  return configs;
}

/** The repository the rig file is in: the nearest directory above it with a .git, else the rig file's directory. */
function repositoryOf(rigDir: string): string {
  const start = fs.existsSync(rigDir) ? fs.realpathSync(rigDir) : rigDir;
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

/**
 * rig makes symlinks in a config dir, as root: only inside the rig file's repository, symlinks resolved, unless
 * the rig file says outside_repo: true (a rig file must not point rig at /etc).
 */
function checkInsideRepo(c: Checker, p: PathSeg[], dir: string, rigDir: string): boolean {
  const full = path.resolve(rigDir, dir);
  const real = realpathOfNearest(full);
  const repo = repositoryOf(rigDir);
  const rel = path.relative(repo, real);
  if (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)) return true;
  const via = real === full ? '' : ` (it is a link to ${real})`;
  c.report(
    p,
    `${dir} is outside the rig file's repository, ${repo}${via}: rig makes links in it, as root`,
    'move the config tree into the repository, or add outside_repo: true to this entry if rig may write there',
    'value',
  );
  return false;
}

/** A path with its symlinks resolved as far as it exists (a link to /etc, then a name under it not made yet, is under /etc). */
function realpathOfNearest(full: string): string {
  if (fs.existsSync(full)) return fs.realpathSync(full);
  const parent = path.dirname(full);
  return parent === full ? full : path.join(realpathOfNearest(parent), path.basename(full));
}

const isDirectory = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

function defaultConfigs(rigDir: string): ConfigTree[] {
  const dir = path.join(rigDir, 'hieradata', 'nodes');
  return fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() ? [{ dir, file: DEFAULT_CONFIG_FILE }] : [];
}

interface RigDefaults {
  domain?: string;
  backend: BackendKind;
  image?: string;
  init: InitKind;
  facts: Record<string, string>;
  provision: ProvisionStep[];
  validate: string[];
  update: string[];
  rigDir: string;
  simple: boolean;
}

interface NodeSettings {
  mirrors?: string;
  image?: string;
  init?: InitKind;
  backend?: BackendKind;
  facts?: Record<string, string>;
  provision?: ProvisionStep[];
  needs?: RawNeed[];
  validate?: string[];
  update?: string[];
  roles?: string[];
}

function checkNodes(c: Checker, nodes: YamlMap, nodesPath: PathSeg[], rig: RigDefaults): { domain: string; nodes: NodeSpec[] } | undefined {
  const keys = Object.keys(nodes);
  if (keys.length === 0) {
    c.report(nodesPath, 'no nodes', `list at least one node: ${FORM_HINT}`, nodesPath.length ? 'key' : 'start');
    return undefined;
  }
  const domain = rig.domain ?? inferDomain(c, keys, nodesPath, rig.simple);
  const specs: NodeSpec[] = [];
  const byShortName = new Map<string, string>();
  const rawNeeds = new Map<NodeSpec, { path: PathSeg[]; needs: RawNeed[] }>();
  for (const key of keys) {
    const p = [...nodesPath, key];
    const settings = checkNodeValue(c, nodes[key], p, rig);
    if (!isHostname(key)) {
      c.report(p, `"${key}" is not a valid node name`, HOST_RULE);
      continue;
    }
    const shortName = key.split('.')[0];
    if (domain && key.includes('.') && !key.endsWith(`.${domain}`)) {
      c.report(p, `node "${key}" is not in the rig's domain, ${domain}`, `name it ${shortName}.${domain}, or just ${shortName}`);
    }
    const other = byShortName.get(shortName);
    if (shortName === SIDECAR) {
      c.report(
        p,
        `short name "${SIDECAR}" is rig's own: its container rig-<rig>.${SIDECAR} runs the rig's dnsmasq and etcd`,
        `rename the node, e.g. ${SIDECAR}1${key.slice(SIDECAR.length)}`,
      );
    } else if (other !== undefined) {
      const hint = 'nodes must differ in their first label, which becomes the hostname';
      c.report(p, `short name "${shortName}" is already used by node "${other}"`, hint);
    } else {
      byShortName.set(shortName, key);
    }
    specs.push({
      name: key.includes('.') ? key : `${key}.${domain}`,
      shortName,
      mirrors: settings.mirrors,
      backend: settings.backend ?? rig.backend,
      image: settings.image ?? rig.image,
      init: settings.init ?? rig.init,
      facts: { ...rig.facts, ...settings.facts },
      provision: settings.provision ?? rig.provision,
      needs: [],
      validate: settings.validate ?? rig.validate,
      update: settings.update ?? rig.update,
      roles: settings.roles ?? [],
      line: c.line(p),
    });
    rawNeeds.set(specs[specs.length - 1], { path: [...p, 'needs'], needs: settings.needs ?? [] });
    checkNodeSize(c, specs[specs.length - 1], p);
  }
  if (domain) checkNeeds(c, specs, rawNeeds, domain);
  return domain ? { domain, nodes: specs } : undefined;
}

/** The part after the first dot, if all dotted node names share it. */
function inferDomain(c: Checker, keys: string[], nodesPath: PathSeg[], simple: boolean): string | undefined {
  const setDomain = simple ? 'switch to the full form (nodes under nodes:) and set domain:' : 'set domain:';
  const dotted = keys.filter((k) => k.includes('.'));
  if (dotted.length === 0) {
    const hint = `${setDomain} (e.g. domain: village.test), or use full names like ${keys[0]}.village.test`;
    c.report([...nodesPath, keys[0]], 'cannot work out the domain: no node name has one', hint);
    return undefined;
  }
  const domainOf = (k: string) => k.slice(k.indexOf('.') + 1);
  const domain = domainOf(dotted[0]);
  const odd = dotted.find((k) => domainOf(k) !== domain);
  if (odd === undefined) return domain;
  const message = `nodes disagree about the domain: "${domainOf(odd)}" here, "${domain}" for ${dotted[0]}`;
  c.report([...nodesPath, odd], message, `${setDomain}, or give all nodes the same domain`);
  return undefined;
}

function checkNodeValue(c: Checker, v: unknown, p: PathSeg[], rig: RigDefaults): NodeSettings {
  const simple = rig.simple;
  if (v === null) return {};
  if (typeof v === 'string') return { mirrors: checkMirrors(c, v, p) };
  if (!isMap(v) || simple) {
    const hint = simple
      ? 'give the live node it mirrors, e.g. straleb.prod.example, or nothing; for per-node settings, put the nodes under nodes:'
      : `give the live node it mirrors, e.g. straleb.prod.example, a map with ${NODE_KEYS.map((k) => `${k}:`).join(', ')} or nothing`;
    c.typeError(p, v, simple ? 'a live node name or empty' : 'a live node name, a map of settings, or empty', hint);
    return {};
  }
  c.unknownKeys(v, p, NODE_KEYS);
  return {
    mirrors: has(v, 'mirrors') ? checkMirrors(c, v.mirrors, [...p, 'mirrors']) : undefined,
    image: c.string(v, 'image', p, "give an image name, or remove image: to use the rig's image"),
    init: checkInit(c, v, p),
    backend: checkBackend(c, v, p),
    facts: has(v, 'facts') ? checkFacts(c, v.facts, [...p, 'facts']) : undefined,
    provision: has(v, 'provision') ? checkSteps(c, v.provision, [...p, 'provision'], rig.rigDir) : undefined,
    needs: has(v, 'needs') ? needList(c, v.needs, [...p, 'needs']) : undefined,
    validate: has(v, 'validate') ? checkValidate(c, v.validate, [...p, 'validate']) : undefined,
    update: has(v, 'update') ? checkValidate(c, v.update, [...p, 'update']) : undefined,
    roles: has(v, 'roles') ? checkRoles(c, v.roles, [...p, 'roles']) : undefined,
  };
}

/** A node's roles (Beaker's host roles, Molecule's groups): names that become inventory groups and the roles fact. */
function checkRoles(c: Checker, v: unknown, p: PathSeg[]): string[] | undefined {
  if (Array.isArray(v) && v.every((r) => typeof r === 'string' && /^[a-z_][a-z0-9_]*$/.test(r))) return [...new Set(v as string[])];
  c.typeError(p, v, 'a list of role names (lowercase letters, digits, underscores)', 'e.g. roles: [db, primary]');
  return undefined;
}

function checkMirrors(c: Checker, v: unknown, p: PathSeg[]): string | undefined {
  const hint = "give the live node's host name, e.g. straleb.prod.example";
  if (typeof v !== 'string') c.typeError(p, v, 'a host name', hint);
  else if (!isHostname(v)) c.report(p, `"${v}" is not a valid host name`, `${hint}; ${HOST_RULE}`, 'value');
  else return v;
  return undefined;
}
