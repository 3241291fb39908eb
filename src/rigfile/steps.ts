import fs from 'node:fs';
import path from 'node:path';
import { CHANGED_EXIT, FACT_NAME, has, isMap, PUPPET_KEYS, STEP_KINDS, type Checker } from './checker.js';
import type { PathSeg } from './positions.js';
import type { NodeSpec, ProvisionStep } from './types.js';

export interface RawNeed {
  text: string;
  path: PathSeg[];
}

const STEP_EXAMPLE =
  'e.g.\n      provision:\n        - shell: echo hello\n        - script: scripts/setup.sh\n        - puppet: control-repo/manifests/site.pp';

const inside = (dir: string, file: string) => {
  const rel = path.relative(dir, file);
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
};

/**
 * A file or directory a step names: relative to the rig file, inside the rig file's directory (the nodes see only
 * that, mounted read-only), and there. Returns its absolute path.
 */
function repoPath(
  c: Checker,
  value: unknown,
  p: PathSeg[],
  rigDir: string,
  what: string,
  type: 'file' | 'directory' | 'any',
): string | undefined {
  if (typeof value !== 'string' || value === '') {
    c.typeError(p, value, `the path of ${what}, relative to the rig file`, STEP_EXAMPLE);
    return undefined;
  }
  const full = path.resolve(rigDir, value);
  const outside = `${value} is outside the rig file's directory, which is all the nodes can see`;
  if (!inside(rigDir, full)) {
    c.report(p, outside, `move it under ${rigDir}`, 'value');
    return undefined;
  }
  const stat = fs.statSync(full, { throwIfNoEntry: false });
  if (!stat) {
    c.report(p, `${what} ${value} does not exist (looked for ${full})`, 'fix the path; it is relative to the rig file', 'value');
    return undefined;
  }
  if ((type === 'file' && !stat.isFile()) || (type === 'directory' && !stat.isDirectory())) {
    c.report(p, `${what} ${value} is not a ${type}`, `give the path of a ${type}, relative to the rig file`, 'value');
    return undefined;
  }
  // A symbolic link out of the directory would dangle inside the nodes.
  if (!inside(fs.realpathSync(rigDir), fs.realpathSync(full))) {
    c.report(p, `${outside} (it is a link to ${fs.realpathSync(full)})`, `copy it under ${rigDir}`, 'value');
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
    if (!isMap(item)) return c.typeError(sp, item, `a map with one of ${STEP_KINDS.join(', ')}`, STEP_EXAMPLE);
    c.unknownKeys(item, sp, [...STEP_KINDS, CHANGED_EXIT]);
    const kinds = STEP_KINDS.filter((k) => has(item, k));
    if (kinds.length > 1) {
      const message = `a step does one thing, but this one has ${kinds.join(' and ')}`;
      return c.report(sp, message, `split it into one step per kind: ${kinds.map((k) => `- ${k}: ...`).join(', then ')}`);
    }
    if (Object.keys(item).length === 0) {
      return c.report(sp, 'is an empty step', `give one of ${STEP_KINDS.map((k) => `${k}:`).join(', ')} ${STEP_EXAMPLE}`, 'value');
    }
    if (kinds.length === 0) {
      if (has(item, CHANGED_EXIT))
        c.report([...sp, CHANGED_EXIT], 'needs a shell: or script: step beside it', 'e.g. - { shell: ./converge.sh, changed_exit: 2 }');
      return; // else an unknown key, reported above
    }
    const kind = kinds[0];
    const arg = item[kind];
    const ap = [...sp, kind];
    const changedExit = checkChangedExit(c, item, sp, kind);
    if (kind === 'shell') {
      if (typeof arg === 'string' && arg.trim()) steps.push({ kind, script: arg, ...(changedExit !== undefined && { changedExit }) });
      else c.typeError(ap, arg, 'a shell script', 'e.g. - shell: rig-fact set redis_role master');
    } else if (kind === 'script') {
      const file = repoPath(c, arg, ap, rigDir, 'script', 'file');
      if (file) steps.push({ kind, path: file, ...(changedExit !== undefined && { changedExit }) });
    } else {
      const options = isMap(arg) ? arg : { manifest: arg };
      if (isMap(arg)) c.unknownKeys(arg, ap, PUPPET_KEYS);
      if (!has(options, 'manifest'))
        return c.report(ap, 'missing manifest:', 'e.g. - puppet: { manifest: control-repo/manifests/site.pp }');
      const at = (key: string) => (isMap(arg) ? [...ap, key] : ap);
      const manifest = repoPath(c, options.manifest, at('manifest'), rigDir, 'manifest', 'any'); // puppet apply takes a file or a directory
      const modulepath = has(options, 'modulepath')
        ? repoPath(c, options.modulepath, at('modulepath'), rigDir, 'module path', 'directory')
        : undefined;
      const hieraConfig = has(options, 'hiera_config')
        ? repoPath(c, options.hiera_config, at('hiera_config'), rigDir, 'hiera config', 'file')
        : undefined;
      if (manifest) steps.push({ kind, manifest, ...(modulepath && { modulepath }), ...(hieraConfig && { hieraConfig }) });
    }
  });
  return steps;
}

/**
 * How a shell or script step says it changed something: an exit code from 1 to 255 (it is then not a failure). Puppet
 * steps need none: --detailed-exitcodes says it.
 */
function checkChangedExit(c: Checker, item: Record<string, unknown>, sp: PathSeg[], kind: string): number | undefined {
  if (!has(item, CHANGED_EXIT)) return undefined;
  const v = item[CHANGED_EXIT];
  const p = [...sp, CHANGED_EXIT];
  if (kind === 'puppet') {
    c.report(p, 'is for shell: and script: steps', 'leave it out: a puppet step says what it changed itself (--detailed-exitcodes)');
    return undefined;
  }
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 255) return v;
  c.typeError(p, v, 'an exit code from 1 to 255', 'e.g. changed_exit: 2 (the step exits 2 when it changed something, 0 when it did not)');
  return undefined;
}

/** One string or a list of strings, each item checked where it is. */
function stringList(c: Checker, value: unknown, p: PathSeg[], what: string, hint: string): { text: string; path: PathSeg[] }[] {
  const one = typeof value === 'string';
  if (!one && !Array.isArray(value)) {
    c.typeError(p, value, `${what} or a list of them`, hint);
    return [];
  }
  const items: { text: string; path: PathSeg[] }[] = [];
  (one ? [value] : (value as unknown[])).forEach((v, i) => {
    const at = one ? p : [...p, i];
    if (typeof v === 'string' && v.trim()) items.push({ text: v, path: at });
    else c.typeError(at, v, what, hint);
  });
  return items;
}

export function checkValidate(c: Checker, value: unknown, p: PathSeg[]): string[] {
  return stringList(c, value, p, 'a shell command', 'e.g. validate: ["redis-cli ping"]').map((v) => v.text);
}

/** A node's needs as written, resolved later by checkNeeds once all nodes are known. */
export function needList(c: Checker, value: unknown, p: PathSeg[]): RawNeed[] {
  return stringList(c, value, p, 'a node name or node.fact', 'e.g. needs: [redis1, redis1.redis_role]');
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
        c.report(
          need.path,
          `"${need.text}" names no node of this rig`,
          `use a node name, or node.fact; nodes: ${nodes.map((n) => n.shortName).join(', ')}`,
          'value',
        );
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
    c.report(
      raw.get(first)!.path,
      `dependency cycle: ${cycle.join(' -> ')}`,
      'nodes would wait for each other forever: remove one of these needs',
    );
  }
}

/** The first dependency cycle among the nodes' needs, as a path that ends where it starts, or undefined. */
function findCycle(nodes: Pick<NodeSpec, 'name' | 'needs'>[]): string[] | undefined {
  const needs = new Map(nodes.map((n) => [n.name, [...new Set(n.needs.map((d) => d.node))]]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'visiting') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of needs.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of needs.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}
