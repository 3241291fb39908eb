import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { RigFileError, errorMessage } from '../errors.js';
import { SIDECAR } from '../labels.js';
import { Checker, has, isMap } from './checker.js';
import { checkSchema } from './check-schema.js';
import { parseYaml, type ParsedYaml, type PathSeg } from './positions.js';
import { DURATION, MAX_DURATION_SECONDS, DEFAULT_FILE, NAME_RULE, RIG_NAME } from './schema-parts.js';
import { NODE_KEYS, TOP_LEVEL_KEYS, type FullRigFile, type NodeValue } from './schema.js';
import { lxdSpec, nodeTarget } from './lxd-settings.js';
import { buildSteps, buildUpdate, checkNeeds, stringList, type RawNeed } from './steps.js';
import { checkReactions, type RawReactions } from './reactions.js';
import type { BackendKind, BuildSpec, InitKind, NodeSpec, ProvisionStep, RigSpec, UpdateStep } from './types.js';
import { checkBuild } from './build.js';
import { DEFAULT_BACKEND } from '../runtime/kinds.js';
import { checkCapacity, checkNetwork } from './network-checks.js';
import { checkConfigs, defaultConfigs } from './config-trees.js';

// The structure of a rig file (keys, types, allowed values, patterns) is schema.ts's, checked by check-schema.ts;
// what is here reads the file, builds the RigSpec from what passed, and checks what a schema cannot say.

export interface LoadOptions {
  name?: string; // overrides the name in the file and the default from the file name
}

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
  const spec = checkRig(c, doc.value, checkSchema(c, doc.value), file, opts);
  if (c.problems.length || !spec) {
    throw new RigFileError(c.problems.sort((a, b) => a.line - b.line || a.column - b.column));
  }
  return spec;
}

/** `root` as written (for its form), `valid`: the same with what broke the schema removed. */
function checkRig(c: Checker, root: unknown, valid: unknown, file: string, opts: LoadOptions): RigSpec | undefined {
  if (!isMap(root) || !isMap(valid)) return undefined;
  const rigDir = path.dirname(path.resolve(file));
  // Any known setting at the top level means the full form; otherwise every key is a node (as the schema's if: says).
  const full = Object.keys(root).some((k) => TOP_LEVEL_KEYS.includes(k));
  const settings = (full ? valid : {}) as Partial<FullRigFile>;
  const name = checkName(c, settings.name, full && has(root, 'name'), file, opts);
  const rig: RigDefaults = {
    domain: settings.domain,
    backend: settings.backend ?? DEFAULT_BACKEND,
    image: settings.image,
    build: onlyOne(c, settings, [], () => checkBuild(c, settings.build, ['build'], rigDir)),
    init: settings.init ?? 'rig',
    facts: checkFacts(c, settings.facts, ['facts']),
    provision: buildSteps(c, settings.provision, ['provision'], rigDir),
    on: settings.on ?? [],
    validate: strings(settings.validate),
    validateTimeout: durationSeconds(c, settings.validate_timeout, ['validate_timeout']),
    update: buildUpdate(c, settings.update, ['update'], rigDir),
    target: settings.lxd?.target,
    targetLine: settings.lxd?.target === undefined ? undefined : c.line(['lxd', 'target']),
    rigDir,
    simple: !full,
  };
  const network = checkNetwork(c, settings.network);
  const configs = settings.configs ? checkConfigs(c, settings.configs, rigDir) : defaultConfigs(rigDir);
  const nodesPath = full ? ['nodes'] : [];
  const nodesValue = full ? settings.nodes : (valid as Record<string, NodeValue | undefined>);
  if (!nodesValue || Object.keys(nodesValue).length === 0) return undefined;
  const found = checkNodes(c, nodesValue, nodesPath, rig);
  if (!found) return undefined;
  checkCapacity(c, found.nodes.length, network, nodesPath);
  const factsFrom = settings.facts_from?.dir === undefined ? undefined : settings.facts_from;
  const lxd = settings.lxd && lxdSpec(c, settings.lxd);
  return {
    file: path.resolve(file),
    dir: rigDir,
    name,
    domain: found.domain,
    image: rig.image,
    network,
    configs,
    factsFrom: factsFrom && {
      dir: path.resolve(rigDir, factsFrom.dir),
      file: factsFrom.file ?? DEFAULT_FILE.facts,
      hardware: factsFrom.hardware === true,
    },
    ...(lxd && { lxd }),
    nodes: found.nodes,
    warnings: settingsWordNodes(file, found.nodes),
  };
}

const strings = (value: string | (string | undefined)[] | undefined) => stringList(value, []).map((s) => s.text);

/** A duration (the schema let through: 30s, 5m, 1m30s, or a number of seconds) as seconds; one too long is a problem. */
function durationSeconds(c: Checker, value: string | number | undefined, p: PathSeg[]): number | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === 'string' ? DURATION.exec(value.trim()) : undefined;
  const seconds = match ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : Number(value);
  if (seconds <= MAX_DURATION_SECONDS) return seconds;
  c.report(p, `${String(value)} is longer than rig can wait (${MAX_DURATION_SECONDS} s)`, 'write a shorter one, e.g. 30m', 'value');
  return undefined;
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

/** The rig's name: --name, else name:, else the rig file's name. */
function checkName(c: Checker, inFile: string | undefined, named: boolean, file: string, opts: LoadOptions): string {
  if (opts.name !== undefined) {
    if (!RIG_NAME.test(opts.name)) {
      c.report(['name'], `the rig name given on the command line, "${opts.name}", is not valid`, NAME_RULE, 'start');
    }
    return opts.name;
  }
  if (inFile !== undefined || named) return inFile ?? ''; // a name: that is not valid is reported by the schema pass
  const base = path.basename(file, path.extname(file));
  if (!RIG_NAME.test(base)) {
    const message = `the rig name defaults to the file name, "${base}", which is not a valid rig name`;
    c.report(['name'], message, `set name: in the rig file or rename the file; ${NAME_RULE}`, 'start');
  }
  return base;
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

/** Custom facts as strings (structured values as JSON), each within its size limit. */
function checkFacts(c: Checker, facts: Record<string, unknown> | undefined, p: PathSeg[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(facts ?? {})) {
    if (v === undefined) continue; // the schema pass reported it
    const value = typeof v === 'string' ? v : JSON.stringify(v);
    if (Buffer.byteLength(value) > LIMITS.factBytes) {
      c.report(
        [...p, key],
        `the value is ${kib(Buffer.byteLength(value))}; a fact may hold at most ${kib(LIMITS.factBytes)}`,
        'keep large data in a file the node reads from the repo, and publish its path',
      );
    } else {
      out[key] = value;
    }
  }
  return out;
}

interface RigDefaults {
  domain?: string;
  backend: BackendKind;
  target?: string;
  targetLine?: number;
  image?: string;
  build?: BuildSpec;
  init: InitKind;
  facts: Record<string, string>;
  provision: ProvisionStep[];
  on: RawReactions['list'];
  validate: string[];
  validateTimeout?: number;
  update: UpdateStep[];
  rigDir: string;
  simple: boolean;
}

function checkNodes(
  c: Checker,
  nodes: Record<string, NodeValue | undefined>,
  nodesPath: PathSeg[],
  rig: RigDefaults,
): { domain: string; nodes: NodeSpec[] } | undefined {
  const keys = Object.keys(nodes);
  const domain = rig.domain ?? inferDomain(c, keys, nodesPath, rig.simple);
  const specs: NodeSpec[] = [];
  const byShortName = new Map<string, string>();
  const rawNeeds = new Map<NodeSpec, { path: PathSeg[]; needs: RawNeed[] }>();
  const rawReactions = new Map<NodeSpec, RawReactions>();
  for (const key of keys) {
    const p = [...nodesPath, key];
    const value = nodes[key];
    const settings = isMap(value) ? value : { mirrors: value ?? undefined };
    const shortName = key.split('.')[0];
    checkNodeName(c, key, p, domain, byShortName);
    const spec: NodeSpec = {
      name: key.includes('.') ? key : `${key}.${domain}`,
      shortName,
      mirrors: settings.mirrors,
      backend: settings.backend ?? rig.backend,
      ...nodeTarget(c, settings, p, rig),
      // A node's own image: or build: stands instead of the rig-wide one, whichever that is.
      image: settings.image ?? (settings.build ? undefined : rig.image),
      build:
        onlyOne(c, settings, p, () => checkBuild(c, settings.build, [...p, 'build'], rig.rigDir)) ??
        (settings.image ? undefined : rig.build),
      init: settings.init ?? rig.init,
      facts: { ...rig.facts, ...(settings.facts && checkFacts(c, settings.facts, [...p, 'facts'])) },
      provision: settings.provision ? buildSteps(c, settings.provision, [...p, 'provision'], rig.rigDir) : rig.provision,
      needs: [],
      reactions: [],
      validate: settings.validate ? strings(settings.validate) : rig.validate,
      validateTimeout:
        settings.validate_timeout === undefined
          ? rig.validateTimeout
          : durationSeconds(c, settings.validate_timeout, [...p, 'validate_timeout']),
      update: settings.update ? buildUpdate(c, settings.update, [...p, 'update'], rig.rigDir) : rig.update,
      roles: [...new Set(settings.roles?.filter((r) => r !== undefined))],
      line: c.line(p),
    };
    specs.push(spec);
    rawNeeds.set(spec, { path: [...p, 'needs'], needs: stringList(settings.needs, [...p, 'needs']) });
    const own = settings.on !== undefined;
    rawReactions.set(spec, { list: settings.on ?? rig.on, path: own ? [...p, 'on'] : ['on'], own });
    checkNodeSize(c, spec, p);
  }
  if (domain) checkNeeds(c, specs, rawNeeds, domain);
  if (domain) checkReactions(c, specs, rawReactions, domain, rig.rigDir);
  return domain ? { domain, nodes: specs } : undefined;
}

/** A node's name against the rig's domain, rig's own sidecar, and the other nodes' short names. */
function checkNodeName(c: Checker, key: string, p: PathSeg[], domain: string | undefined, byShortName: Map<string, string>): void {
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
}

/** image: and build: in the same map: refused (rig tags what it builds itself); else what `build` makes of build:. */
function onlyOne(c: Checker, settings: { image?: string; build?: unknown }, p: PathSeg[], build: () => BuildSpec | undefined) {
  if (settings.image === undefined || settings.build === undefined) return build();
  const hint = 'keep one: build: builds the image (rig tags it by a hash of its context), image: names one the engine has';
  c.report([...p, 'build'], 'image: and build: are both set; rig builds an image or takes one, not both', hint);
  return undefined;
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
