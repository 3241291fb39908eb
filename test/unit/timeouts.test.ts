import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RigFileError } from '../../src/errors.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { nodeSettingsHash } from '../../src/plan/plan.js';
import { readMarker, renderConfig, type LxcNodeConfig } from '../../src/runtime/lxc/config.js';
import { checkTimeout, junitXml, type CheckResult } from '../../src/engine/validate.js';
import { DEFAULT_CHECK_TIMEOUT, NodeRuns } from '../../src/engine/node-runs.js';
import { endProcesses, processesWith } from '../../src/cli/process-group.js';
import type { Engine } from '../../src/engine/context.js';
import type { NodeInstance } from '../../src/runtime/backend.js';

const FILE = 'rigs/test.yaml';
const y = (...lines: string[]) => lines.join('\n') + '\n';

describe('validate_timeout in the rig file', () => {
  it('is a duration (or seconds), rig-wide and per node, the node over the rig', () => {
    const spec = parseRigFile(
      y(
        'domain: t.test',
        'validate_timeout: 1m30s',
        'nodes:',
        '  a: { validate_timeout: 30s }',
        '  b: { validate_timeout: 45 }',
        '  c: { validate_timeout: 2m }',
        '  d:',
      ),
      FILE,
    );
    expect(spec.nodes.map((n) => [n.shortName, n.validateTimeout])).toEqual([
      ['a', 30],
      ['b', 45],
      ['c', 120],
      ['d', 90],
    ]);
    const none = parseRigFile(y('domain: t.test', 'nodes:', '  a:'), FILE);
    expect(none.nodes[0].validateTimeout).toBeUndefined();
  });

  it('leaves the settings hash of a node without it as it was (a rig up before it is not seen as changed)', () => {
    const [node] = parseRigFile(y('domain: t.test', 'nodes:', '  a: { validate: ["true"] }'), FILE).nodes;
    const { validateTimeout: _none, ...without } = node;
    expect(nodeSettingsHash(node)).toBe(nodeSettingsHash(without));
    const [timed] = parseRigFile(y('domain: t.test', 'nodes:', '  a: { validate: ["true"], validate_timeout: 10s }'), FILE).nodes;
    expect(nodeSettingsHash(timed)).not.toBe(nodeSettingsHash(node));
  });

  it.each([
    ['"0s"', 'is not a duration'],
    ['soon', 'is not a duration'],
    ['"10 s"', 'is not a duration'],
    ['0', 'is not a time rig can wait'],
    ['1.5', 'must be a duration'],
    ['99999999', 'is not a time rig can wait'],
    ['99999999s', 'longer than rig can wait'],
  ])('refuses %s at its line, with a fix', (value, says) => {
    try {
      parseRigFile(y('domain: t.test', 'nodes:', '  a:', `    validate_timeout: ${value}`), FILE);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RigFileError);
      const [problem] = (err as RigFileError).problems;
      expect(problem).toMatchObject({ line: 4, path: 'nodes.a.validate_timeout' });
      expect(problem.message).toContain(says);
      expect(problem.hint).toMatch(/e\.g\./);
    }
  });
});

describe('a node records its validate_timeout', () => {
  const config = (validateTimeout?: number): LxcNodeConfig => ({
    marker: { rig: 'v', node: 'a.v.test', roles: [], validate: ['true'], update: [], ...(validateTimeout && { validateTimeout }) },
    hostname: 'a',
    lowerDir: '/l',
    upperDir: '/u',
    toolsDir: '/t',
    repoDir: '/r',
    repoMount: '/.rig-repo',
    bridge: 'br0',
    hostInterface: 'rv0',
    mac: '02:00:00:00:00:01',
    env: {},
    consoleLog: '/c',
    systemd: false,
    commonConfig: '/common.conf',
  });

  it('in an LXC node config marker, read back as it was written', () => {
    const text = renderConfig(config(42));
    expect(text).toContain('# io.rig.validate-timeout = 42\n');
    expect(readMarker(text)).toMatchObject(config(42).marker);
    expect(renderConfig(config())).not.toContain('validate-timeout');
    expect(readMarker(renderConfig(config()))).not.toHaveProperty('validateTimeout');
  });

  it('and rig test takes the command line first, then the node, then 5 minutes', () => {
    const node = { rig: 'v', node: 'a.v.test', backend: 'docker', name: 'x', running: true } as NodeInstance;
    expect(checkTimeout(node)).toBe(DEFAULT_CHECK_TIMEOUT);
    expect(DEFAULT_CHECK_TIMEOUT).toBe(300);
    expect(checkTimeout({ ...node, validateTimeout: 20 })).toBe(20);
    expect(checkTimeout({ ...node, validateTimeout: 20 }, 3)).toBe(3);
  });
});

describe('rig-run command lines', () => {
  const runs = new NodeRuns({} as Engine);
  it('put each command in a session of its own under one tag, with its deadline', () => {
    expect(runs.tag).toMatch(/^rig\d+-[0-9a-f]{8}$/);
    expect(runs.argv('redis-cli ping', { timeout: 30, whole: true })).toEqual([
      '/.rig/bin/rig-run',
      '-g',
      runs.tag,
      '-t',
      '30',
      '-w',
      '--',
      'redis-cli ping',
    ]);
    expect(runs.argv(['sh', '-c', 'exit 3'])).toEqual(['/.rig/bin/rig-run', '-g', runs.tag, '-x', '--', 'sh', '-c', 'exit 3']);
  });
});

describe('JUnit XML of checks that timed out, were interrupted or did not run', () => {
  const check = (fields: Partial<CheckResult>): CheckResult => ({
    fqdn: 'a.v.test',
    command: 'true',
    passed: true,
    exitCode: 0,
    output: '',
    seconds: 1,
    timeout: 30,
    timedOut: false,
    ...fields,
  });
  it('says which, each a failure of its own type, and the checks not run as skipped', () => {
    const xml = junitXml(
      'v',
      [
        check({}),
        check({ command: 'sleep 99', passed: false, exitCode: 124, timedOut: true }),
        check({ command: 'sleep 98', passed: false, exitCode: 143, interrupted: true }),
      ],
      [{ fqdn: 'b.v.test', command: 'true' }],
    );
    expect(xml).toContain('<testsuites name="rig" tests="4" failures="2"');
    expect(xml).toContain('failures="2" errors="0" skipped="1"');
    expect(xml).toContain('<failure message="timed out after 30 s" type="timeout">');
    expect(xml).toContain('<failure message="interrupted" type="interrupted">');
    expect(xml).toContain(
      '<testcase classname="b.v.test" name="true" time="0.000">\n      <skipped message="not run: rig was interrupted"/>',
    );
  });
});

describe("ending a host command's processes", () => {
  /** The processes of a group that are not zombies (here, PID 1 may leave re-parented ones unreaped). */
  const liveIn = (pgid: number) =>
    readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .filter((e) => {
        try {
          const [state, , group] = readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1].split(' ');
          return Number(group) === pgid && state !== 'Z';
        } catch {
          return false;
        }
      });

  it('ends a whole process group: TERM, then KILL to what ignores it', async () => {
    const child = spawn('sh', ['-c', 'trap "" TERM; sleep 1000 & sleep 1000'], { detached: true, stdio: 'ignore' });
    // The shell and its two sleeps, once it has started them.
    for (let i = 0; i < 200 && liveIn(child.pid!).length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(liveIn(child.pid!)).toHaveLength(3);
    await endProcesses([-child.pid!]);
    // SIGKILL is sent by now; the kernel takes a moment to end what it killed (longer on a loaded machine).
    for (let i = 0; i < 40 && liveIn(child.pid!).length; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(liveIn(child.pid!)).toEqual([]);
  });

  it('finds the processes under a command by the mark in their environment, re-parented ones too', async () => {
    const mark = `${process.pid}-unit-${Date.now()}`;
    const child = spawn('sh', ['-c', 'sleep 1000 >/dev/null & echo $!'], {
      env: { ...process.env, RIG_RUN_ID: mark },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exit = new Promise((resolve) => child.once('close', resolve));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await exit; // its output read whole ('close', not 'exit'); its sleep lives on, re-parented
    const orphan = Number(out.trim());
    expect(processesWith('RIG_RUN_ID', mark)).toEqual([orphan]);
    expect(processesWith('RIG_RUN_ID', `${mark}x`)).toEqual([]);
    await endProcesses([orphan]);
    expect(processesWith('RIG_RUN_ID', mark)).toEqual([]);
  });
});
