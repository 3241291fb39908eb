import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { RigFileError } from '../errors.js';
import { LIMITS } from './load.js';
import { FACT_NAME, RESERVED_FACTS } from './schema-parts.js';
import type { RigSpec } from './types.js';

/**
 * Facts a live node has in production, as exported from it (`puppet facts show`, `puppet facts find`, or a PuppetDB
 * facts query), read for the rig nodes that mirror it. They lie under rig's own: what rig knows of the node in
 * the rig (its names, addresses, networks) always wins, so only facts of the node's place and role carry over.
 */
export interface ProductionFacts {
  facts: Map<string, Record<string, string>>; // by rig node fqdn
  warnings: string[];
}

// Facts of the machine itself, which Facter (and rig) see in the rig: never taken from production.
const OWN = /^(networking|interfaces|(ipaddress|ipaddress6|macaddress|netmask|netmask6|network|network6|mtu|scope6|dhcp_servers)(_.*)?)$/;

/**
 * The machine's hardware as Facter reports it (Facter 4's names and the legacy ones): the node's own in the rig
 * unless facts_from says hardware: true, so code that sizes a JVM heap or a database's buffers from memorysize or
 * processors asks the container for what it has, not for production's machine.
 */
const HARDWARE = new RegExp(
  '^(' +
    [
      'memory',
      '(memorysize|memoryfree|memorytotal|swapsize|swapfree)(_mb)?',
      'processors',
      'processorcount',
      'physicalprocessorcount',
      'processor\\d+',
      'disks',
      'blockdevices?(_.*)?',
      'partitions',
      'mountpoints',
      'filesystems',
      'dmi',
      'manufacturer',
      'productname',
      'serialnumber',
      'uuid',
      'bios_.*',
      'board.*',
      'chassis.*',
      'virtual',
      'is_virtual',
      'hypervisors',
      'load_averages',
      'system_uptime',
      'uptime(_.*)?',
    ].join('|') +
    ')$',
);

/** Which facts rig keeps its own: the network always, the hardware unless the rig file takes production's. */
export const isMachineFact = (name: string, hardware: boolean) => OWN.test(name) || (!hardware && HARDWARE.test(name));

export function readProductionFacts(spec: RigSpec): ProductionFacts {
  const result: ProductionFacts = { facts: new Map(), warnings: [] };
  if (!spec.factsFrom) return result;
  for (const node of spec.nodes) {
    if (!node.mirrors) continue;
    const file = path.join(spec.factsFrom.dir, spec.factsFrom.file.replaceAll('{node}', node.mirrors));
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      result.warnings.push(`no production facts for ${node.mirrors} (${file}): ${node.name} gets rig's facts only`);
      continue;
    }
    const facts = factsOf(parse(text, file), file, spec.factsFrom.hardware);
    result.facts.set(node.name, facts);
    if (spec.factsFrom.hardware) result.warnings.push(...oversized(facts, node.mirrors, node.name));
  }
  return result;
}

function parse(text: string, file: string): unknown {
  try {
    return yaml.load(text, { schema: yaml.CORE_SCHEMA, json: true }); // JSON is YAML: one parser, with line numbers
  } catch (err) {
    const mark = (err as yaml.YAMLException).mark;
    throw new RigFileError([
      {
        file,
        line: (mark?.line ?? 0) + 1,
        column: (mark?.column ?? 0) + 1,
        path: '',
        message: `production facts are not valid JSON or YAML: ${(err as yaml.YAMLException).reason ?? (err as Error).message}`,
        hint: 'export them again with: puppet facts show --render-as json > FILE (on the live node)',
      },
    ]);
  }
}

/** The facts of one export, in any of its shapes, as strings (structured values as JSON), rig's own left out. */
function factsOf(doc: unknown, file: string, hardware: boolean): Record<string, string> {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  let entries: Array<[string, unknown]>;
  if (Array.isArray(doc) && doc.every((e) => isMap(e) && typeof e.name === 'string' && 'value' in e)) {
    entries = doc.map((e) => [e.name as string, e.value]); // PuppetDB: [{certname, name, value}, ...]
  } else if (isMap(doc)) {
    entries = Object.entries(isMap(doc.values) ? doc.values : doc); // puppet facts find wraps them in "values"
  } else {
    throw new RigFileError([
      {
        file,
        line: 1,
        column: 1,
        path: '',
        message: 'production facts must be a map of facts, or a PuppetDB list of {name, value}',
        hint: 'export them with: puppet facts show --render-as json',
      },
    ]);
  }
  const facts: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!FACT_NAME.test(name) || isMachineFact(name, hardware) || (RESERVED_FACTS as readonly string[]).includes(name)) continue;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (Buffer.byteLength(text) <= LIMITS.factBytes) facts[name] = text;
  }
  return facts;
}

/** How far above this host production's memory and processors are, when the rig takes them: a warning each, at 2x and more. */
function oversized(facts: Record<string, string>, live: string, node: string): string[] {
  const warnings: string[] = [];
  const memory = productionMemory(facts);
  const here = { memory: os.totalmem(), processors: os.availableParallelism() };
  if (memory && memory >= 2 * here.memory) {
    warnings.push(
      `${live}'s memory (${gib(memory)}) is ${Math.floor(memory / here.memory)}x what ${node} has here (${gib(here.memory)}), and hardware: true gives it that fact: code that sizes a heap or buffers from it asks for more than the node has`,
    );
  }
  const processors = productionProcessors(facts);
  if (processors && processors >= 2 * here.processors) {
    warnings.push(
      `${live} has ${processors} processors, ${node} has ${here.processors} here, and hardware: true gives it production's count: worker pools sized from it will oversubscribe the node`,
    );
  }
  return warnings;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
const json = (text: string | undefined): unknown => {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined; // a fact that is not JSON has no structured value
  }
};

/** Production's total memory in bytes: Facter 4's memory.system.total_bytes, else the legacy memorysize_mb. */
function productionMemory(facts: Record<string, string>): number | undefined {
  const structured = (json(facts.memory) as { system?: { total_bytes?: number } } | undefined)?.system?.total_bytes;
  if (typeof structured === 'number') return structured;
  const mb = Number(facts.memorysize_mb);
  return Number.isFinite(mb) && mb > 0 ? mb * 2 ** 20 : undefined;
}

function productionProcessors(facts: Record<string, string>): number | undefined {
  const count = (json(facts.processors) as { count?: number } | undefined)?.count ?? Number(facts.processorcount);
  return typeof count === 'number' && Number.isFinite(count) && count > 0 ? count : undefined;
}
