import type { Engine } from './context.js';
import { listNodes } from './nodes.js';
import type { NodeInstance } from '../runtime/backend.js';

export interface CheckResult {
  node: string;
  command: string;
  passed: boolean;
  exitCode: number;
  output: string;
  seconds: number;
}

/** Run every node's validate commands inside it (nodes in parallel, each node's checks in order). */
export async function validateRig(engine: Engine, rig: string): Promise<CheckResult[]> {
  const nodes = await listNodes(engine, rig);
  const perNode = await Promise.all(nodes.map((node) => validateNode(engine, node)));
  return perNode.flat().sort((a, b) => a.node.localeCompare(b.node));
}

export async function validateNode(engine: Engine, node: NodeInstance): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const command of node.validate ?? []) {
    const started = Date.now();
    const { exitCode, output } = await engine.backends[node.backend]!.exec(node, ['/.rig/bin/rig-run', command]);
    results.push({ node: node.node, command, passed: exitCode === 0, exitCode, output, seconds: (Date.now() - started) / 1000 });
  }
  return results;
}

const xml = (text: string) =>
  text
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');

/** JUnit XML: one test suite per rig, one test case per check, classname = node. */
export function junitXml(rig: string, results: CheckResult[]): string {
  const failures = results.filter((r) => !r.passed).length;
  const time = results.reduce((t, r) => t + r.seconds, 0).toFixed(3);
  const cases = results.map((r) => {
    const head = `    <testcase classname="${xml(r.node)}" name="${xml(r.command)}" time="${r.seconds.toFixed(3)}"`;
    if (r.passed) return `${head}>\n      <system-out>${xml(r.output)}</system-out>\n    </testcase>`;
    return `${head}>\n      <failure message="exited ${r.exitCode}" type="exit">${xml(r.output)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="rig" tests="${results.length}" failures="${failures}" time="${time}">`,
    `  <testsuite name="rig ${xml(rig)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${time}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
