import fs from 'node:fs';
import path from 'node:path';
import type { Checker } from './checker.js';
import type { PathSeg } from './positions.js';
import { FACT_NAME } from './schema-parts.js';
import { STEP_KINDS } from './schema-steps.js';
import { type FullRigFile, type RawStep } from './schema.js';
import type { NodeSpec, ProvisionStep, UpdateStep } from './types.js';

export interface RawNeed {
  text: string;
  path: PathSeg[];
}

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
  value: string,
  p: PathSeg[],
  rigDir: string,
  what: string,
  type: 'file' | 'directory' | 'any',
): string | undefined {
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

/** The steps of a provision: list, each run as written; a step the schema pass removed (a hole) is left out. */
export function buildSteps(c: Checker, raw: (RawStep | undefined)[] | undefined, p: PathSeg[], rigDir: string): ProvisionStep[] {
  const steps: ProvisionStep[] = [];
  (raw ?? []).forEach((step, i) => {
    const kind = step && STEP_KINDS.find((k) => step[k] !== undefined);
    if (!step || !kind) return; // the schema pass reported it
    const ap = [...p, i, kind];
    const changed = step.changed_exit === undefined ? {} : { changedExit: step.changed_exit };
    if (kind === 'shell') {
      steps.push({ kind, script: step.shell!, ...changed });
    } else if (kind === 'script') {
      const file = repoPath(c, step.script!, ap, rigDir, 'script', 'file');
      if (file) steps.push({ kind, path: file, ...changed });
    } else if (kind === 'ansible') {
      const arg = step.ansible!;
      const playbook = repoPath(
        c,
        typeof arg === 'string' ? arg : arg.playbook,
        typeof arg === 'string' ? ap : [...ap, 'playbook'],
        rigDir,
        'playbook',
        'file',
      );
      if (playbook) steps.push({ kind, playbook });
    } else {
      const arg = step.puppet!;
      const options = typeof arg === 'string' ? { manifest: arg } : arg;
      const at = (key: string) => (typeof arg === 'string' ? ap : [...ap, key]);
      if (options.manifest === undefined) return;
      const manifest = repoPath(c, options.manifest, at('manifest'), rigDir, 'manifest', 'any'); // puppet apply takes a file or a directory
      const modulepath = options.modulepath && repoPath(c, options.modulepath, at('modulepath'), rigDir, 'module path', 'directory');
      const hieraConfig = options.hiera_config && repoPath(c, options.hiera_config, at('hiera_config'), rigDir, 'hiera config', 'file');
      if (manifest) steps.push({ kind, manifest, ...(modulepath && { modulepath }), ...(hieraConfig && { hieraConfig }) });
    }
  });
  return steps;
}

/**
 * The steps of an update: list as rig records them on the node: each shell command as written, each ansible step's
 * playbook (checked as a provisioning step's is) relative to the rig file's directory.
 */
export function buildUpdate(c: Checker, raw: FullRigFile['update'], p: PathSeg[], rigDir: string): UpdateStep[] {
  if (typeof raw === 'string') return [raw];
  return (raw ?? []).flatMap((step, i): UpdateStep[] => {
    if (step === undefined || typeof step === 'string') return step === undefined ? [] : [step];
    const arg = step.ansible as string | { playbook?: string } | undefined;
    const given = typeof arg === 'string' ? arg : arg?.playbook;
    if (given === undefined) return []; // the schema pass reported it
    const at = typeof arg === 'string' ? [...p, i, 'ansible'] : [...p, i, 'ansible', 'playbook'];
    const playbook = repoPath(c, given, at, rigDir, 'playbook', 'file');
    return playbook ? [{ ansible: path.relative(rigDir, playbook) }] : [];
  });
}

/** Update steps as a node records them (io.rig.update, JSON): what is not a command or an ansible step is left out. */
export function recordedUpdate(json: string | undefined): UpdateStep[] {
  let list: unknown;
  try {
    list = JSON.parse(json ?? '[]');
  } catch {
    return []; // a record that is not JSON (made by hand): the node declares no update rig can run
  }
  if (!Array.isArray(list)) return [];
  return list.flatMap((step: unknown): UpdateStep[] => {
    if (typeof step === 'string') return [step];
    const playbook = step && typeof step === 'object' ? (step as { ansible?: unknown }).ansible : undefined;
    return typeof playbook === 'string' && playbook ? [{ ansible: playbook }] : [];
  });
}

/** One string or a list of them (validate:, update:, needs:), each with its place in the file. */
export function stringList(value: string | (string | undefined)[] | undefined, p: PathSeg[]): RawNeed[] {
  if (typeof value === 'string') return [{ text: value, path: p }];
  return (value ?? []).flatMap((text, i) => (text === undefined ? [] : [{ text, path: [...p, i] }]));
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

/** Whether a node's steps need the host (an ansible step, run from it); unknown steps (undefined) are answered by it too. */
export const runsOnHost = (steps: ProvisionStep[] | undefined): boolean => !steps || steps.some((s) => s.kind === 'ansible');

/** Whether an update has an ansible step (run from the host), so that rig update loads Ansible's side only then. */
export const updatesFromHost = (steps: UpdateStep[] | undefined): boolean => !!steps?.some((s) => typeof s !== 'string');
