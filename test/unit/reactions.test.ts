import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Problem } from '../../src/errors.js';
import { problemsOf } from './rigfile-problems.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import type { RigSpec } from '../../src/rigfile/types.js';
import { toDot, toMermaid } from '../../src/plan/graph.js';
import { reactionsEnv } from '../../src/engine/agent-env.js';

// Reactions (issue 22.1): `on:` per node, or rig-wide for the nodes without their own; each reacts to a peer's fact
// written with a new value (change: node.fact) or to its stage (stage: node), and runs the node's provisioning
// again (run: provision) or steps of its own. Step paths are checked on disk: the rig file lives in a temp dir.
let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rig-reactions-test-')));
  file = path.join(dir, 'rig.yaml');
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.writeFileSync(path.join(dir, 'scripts/failover.sh'), '');
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const parse = (...lines: string[]): RigSpec => parseRigFile(lines.join('\n') + '\n', file);
const node = (spec: RigSpec, shortName: string) => spec.nodes.find((n) => n.shortName === shortName)!;

const problems = (...lines: string[]) => problemsOf(() => parse(...lines));
const where = (found: Problem[]) => found.map((p) => [p.line, p.column, p.path, p.message]);

describe('reactions in the rig file (on:)', () => {
  it("reads a node's reactions: a fact change or a stage, running its provisioning again or steps of its own", () => {
    const spec = parse(
      'domain: village.test',
      'provision: [{ shell: echo hi }]',
      'nodes:',
      '  barn:',
      '  mill:',
      '    on:',
      '      - change: barn.redis_run_id',
      '        run: provision',
      '      - stage: barn.village.test',
      '        run: [{ shell: ./failover.sh }, { script: scripts/failover.sh }]',
    );
    expect(node(spec, 'mill').reactions).toEqual([
      { change: { node: 'barn.village.test', fact: 'redis_run_id' }, run: 'provision' },
      {
        stage: 'barn.village.test',
        run: [
          { kind: 'shell', script: './failover.sh' },
          { kind: 'script', path: path.join(dir, 'scripts/failover.sh') },
        ],
      },
    ]);
    expect(node(spec, 'barn').reactions).toEqual([]);
  });

  it("gives the rig-wide on: to each node without its own, leaving out a node's reactions to itself", () => {
    const spec = parse(
      'domain: village.test',
      'on: [{ stage: barn, run: [{ shell: echo x }] }]',
      'nodes:',
      '  barn:',
      '  mill:',
      '  well:',
      '    on: []',
    );
    expect(node(spec, 'barn').reactions).toEqual([]);
    expect(node(spec, 'mill').reactions).toEqual([{ stage: 'barn.village.test', run: [{ kind: 'shell', script: 'echo x' }] }]);
    expect(node(spec, 'well').reactions).toEqual([]);
  });

  it('rejects an unknown node, a fact-less change, a bad fact, a reaction to its own stage, at file:line and key', () => {
    const found = problems(
      'domain: village.test',
      'nodes:',
      '  barn:',
      '  mill:',
      '    on:',
      '      - { change: silo.x, run: provision }',
      '      - { change: barn, run: provision }',
      '      - { change: barn.Role, run: provision }',
      '      - { stage: silo, run: provision }',
      '      - { stage: mill, run: provision }',
    );
    expect(where(found)).toEqual([
      [6, 19, 'nodes.mill.on[0].change', '"silo.x" names no node.fact of this rig'],
      [7, 19, 'nodes.mill.on[1].change', '"barn" names no fact: change: takes node.fact'],
      [8, 19, 'nodes.mill.on[2].change', '"Role" is not a valid fact name'],
      [9, 18, 'nodes.mill.on[3].stage', '"silo" names no node of this rig'],
      [10, 18, 'nodes.mill.on[4].stage', 'a node cannot react to its own stage'],
    ]);
    expect(found[0].hint).toBe('write node.fact, e.g. barn.redis_run_id; nodes: barn, mill');
  });

  it('rejects a reaction with no trigger, two triggers, no run, or a run that is neither provision nor steps', () => {
    const found = problems(
      'domain: village.test',
      'nodes:',
      '  barn:',
      '  mill:',
      '    on:',
      '      - { run: provision }',
      '      - { change: barn.x, stage: barn, run: provision }',
      '      - { change: barn.x }',
      '      - { change: barn.x, run: again }',
    );
    expect(found.map((p) => [p.line, p.path, p.message])).toEqual([
      [6, 'nodes.mill.on[0]', 'a reaction needs what it reacts to: change: node.fact or stage: node'],
      [7, 'nodes.mill.on[1]', 'a reaction reacts to one thing, but this one has change and stage'],
      [8, 'nodes.mill.on[2]', 'missing run:'],
      [9, 'nodes.mill.on[3].run', 'must be provision or a list of steps'],
    ]);
  });

  it('shows reactions in rig graph as edges of their own, dashed', () => {
    const spec = parse(
      'domain: village.test',
      'nodes:',
      '  barn:',
      '  mill:',
      '    needs: barn',
      '    on: [{ change: barn.run_id, run: provision }, { stage: barn, run: provision }]',
    );
    expect(toDot('r', spec.nodes)).toContain('"mill.village.test" -> "barn.village.test" [label="on change run_id", style=dashed];');
    expect(toDot('r', spec.nodes)).toContain('"mill.village.test" -> "barn.village.test" [label="on stage", style=dashed];');
    expect(toMermaid(spec.nodes)).toContain('mill_village_test -.->|on change run_id| barn_village_test');
  });

  it('passes reactions to the agent as lines it reads without a JSON parser', () => {
    const spec = parse(
      'domain: village.test',
      'nodes:',
      '  barn:',
      '  mill:',
      '    on: [{ change: barn.run_id, run: provision }, { stage: barn, run: [{ shell: echo hi, changed_exit: 3 }] }]',
    );
    expect(reactionsEnv(node(spec, 'mill').reactions, (s) => s.kind)).toBe(
      [
        'react 1 change barn.village.test run_id barn.run_id',
        'provision 1',
        'react 2 stage barn.village.test - barn.stage',
        'step 2 shell',
      ].join('\n'),
    );
  });
});
