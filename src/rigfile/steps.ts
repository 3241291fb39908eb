import fs from 'node:fs';
import path from 'node:path';
import { findCycle } from '../plan/graph.js';
import { FACT_NAME, has, isMap, PUPPET_KEYS, STEP_KINDS, type Checker } from './checker.js';
import type { PathSeg } from './positions.js';
import type { NodeSpec, ProvisionStep } from './types.js';

export interface RawNeed {
  text: string;
  path: PathSeg[];
}

const STEP_EXAMPLE =
  'e.g.\n      provision:\n        - shell: echo hello\n        - script: scripts/setup.sh\n        - puppet: control-repo/manifests/site.pp';

/** A file a step names: relative to the rig file, inside the rig file's directory (the nodes see only that), and there. */
function repoFile(c: Checker, value: unknown, p: PathSeg[], rigDir: string, what: string): string | undefined {
  if (typeof value !== 'string' || value === '') {
    c.typeError(p, value, `the path of ${what}, relative to the rig file`, STEP_EXAMPLE);
    return undefined;
  }
  const full = path.resolve(rigDir, value);
  if (path.relative(rigDir, full).startsWith('..')) {
    c.report(p, `${value} is outside the rig file's directory, which is all the nodes can see`, `move it under ${rigDir}`, 'value');
    return undefined;
  }
  if (!fs.existsSync(full)) {
    c.report(p, `${what} ${value} does not exist (looked for ${full})`, 'fix the path; it is relative to the rig file', 'value');
    return undefined;
  }
  return full;
}

export function checkSteps(c: Checker, value: unknown, p: PathSeg[], rigDir: string): ProvisionStep[] {
  if (!Array.isArray(value)) {
    c.typeError(p, value, 'a list of steps', STEP_EXAMPLE);
    return [];
  }
  const steps: ProvisionStep[] = [];
  value.forEach((item: unknown, i) => {
    const sp = [...p, i];
    const kinds = isMap(item) ? Object.keys(item) : [];
    if (!isMap(item) || kinds.length !== 1 || !(STEP_KINDS as readonly string[]).includes(kinds[0])) {
      if (isMap(item) && kinds.length === 1) c.unknownKeys(item, sp, STEP_KINDS);
      else c.typeError(sp, item, `a map with one of ${STEP_KINDS.join(', ')}`, STEP_EXAMPLE);
      return;
    }
    const kind = kinds[0] as (typeof STEP_KINDS)[number];
    const arg = item[kind];
    const ap = [...sp, kind];
    if (kind === 'shell') {
      if (typeof arg === 'string' && arg.trim()) steps.push({ kind, script: arg });
      else c.typeError(ap, arg, 'a shell script', 'e.g. - shell: rig-fact set redis_role master');
    } else if (kind === 'script') {
      const file = repoFile(c, arg, ap, rigDir, 'script');
      if (file) steps.push({ kind, path: file });
    } else {
      const options = isMap(arg) ? arg : { manifest: arg };
      if (isMap(arg)) c.unknownKeys(arg, ap, PUPPET_KEYS);
      if (!has(options, 'manifest')) return c.report(ap, 'missing manifest:', 'e.g. - puppet: { manifest: control-repo/manifests/site.pp }');
      const at = (key: string) => (isMap(arg) ? [...ap, key] : ap);
      const manifest = repoFile(c, options.manifest, at('manifest'), rigDir, 'manifest');
      const modulepath = has(options, 'modulepath') ? repoFile(c, options.modulepath, at('modulepath'), rigDir, 'module path') : undefined;
      const hieraConfig = has(options, 'hiera_config') ? repoFile(c, options.hiera_config, at('hiera_config'), rigDir, 'hiera config') : undefined;
      if (manifest) steps.push({ kind, manifest, modulepath, hieraConfig });
    }
  });
  return steps;
}

export function checkValidate(c: Checker, value: unknown, p: PathSeg[]): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string' || !v.trim())) {
    c.typeError(p, value, 'a list of shell commands', 'e.g. validate: ["redis-cli ping"]');
    return [];
  }
  return list as string[];
}

/** Resolve each node's needs to nodes (and facts) of the rig, then reject a cycle before anything starts. */
export function checkNeeds(c: Checker, nodes: NodeSpec[], raw: Map<NodeSpec, { path: PathSeg[]; needs: RawNeed[] }>, domain: string): void {
  const byName = new Map<string, NodeSpec>();
  for (const n of nodes) byName.set(n.name, n).set(n.shortName, n);
  for (const node of nodes) {
    for (const need of raw.get(node)?.needs ?? []) {
      const whole = byName.get(need.text) ?? byName.get(`${need.text}.${domain}`);
      const dot = need.text.lastIndexOf('.');
      const target = whole ?? (dot > 0 ? byName.get(need.text.slice(0, dot)) : undefined);
      const fact = whole ? undefined : need.text.slice(dot + 1);
      if (!target) {
        c.report(need.path, `"${need.text}" names no node of this rig`, `use a node name, or node.fact; nodes: ${nodes.map((n) => n.shortName).join(', ')}`, 'value');
      } else if (fact !== undefined && !FACT_NAME.test(fact)) {
        c.report(need.path, `"${fact}" is not a valid fact name`, 'write node.fact, e.g. redis1.redis_role', 'value');
      } else if (target === node) {
        c.report(need.path, 'a node cannot need itself', 'remove it', 'value');
      } else {
        node.needs.push({ node: target.name, fact });
      }
    }
  }
  const cycle = findCycle(nodes);
  if (cycle) {
    const first = nodes.find((n) => n.name === cycle[0])!;
    c.report(raw.get(first)!.path, `dependency cycle: ${cycle.join(' -> ')}`, 'nodes would wait for each other forever: remove one of these needs');
  }
}
