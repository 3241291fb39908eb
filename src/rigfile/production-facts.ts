import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { RigFileError } from '../errors.js';
import { LIMITS } from './load.js';
import { FACT_NAME, RESERVED_FACTS } from './schema.js';
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
    result.facts.set(node.name, factsOf(parse(text, file), file));
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
function factsOf(doc: unknown, file: string): Record<string, string> {
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
    if (!FACT_NAME.test(name) || OWN.test(name) || (RESERVED_FACTS as readonly string[]).includes(name)) continue;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (Buffer.byteLength(text) <= LIMITS.factBytes) facts[name] = text;
  }
  return facts;
}
