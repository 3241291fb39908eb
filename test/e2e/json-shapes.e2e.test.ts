import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaErrors } from '../schemas.js';
import { rig, rigBin, useRig } from './helpers.js';

// Issue 21.12: every --json output, as the real commands print it against a real rig, holds to its JSON Schema in
// schema/ and so to the one vocabulary (name, rig, fqdn, ip, stage) the schemas share.
describe('every --json output matches its JSON Schema', () => {
  const r = useRig(
    'shapes',
    (name) => `name: ${name}
domain: shapes.test
network: { internal: true }
configs: []
nodes:
  barn.shapes.test:
    mirrors: straleb.prod.example
    roles: [db]
    provision: [{ shell: 'true' }]
    validate: ['true']
    update: ['true']
  mill.shapes.test:
    needs: [barn]
    validate: ['exit 3']
`,
  );

  const json = async (args: string[], schema: string, exitCode = 0) => {
    const out = await rig([...args, ...(args.includes('--format') ? [] : ['--json'])], { cwd: r.dir, timeoutMs: 120_000 });
    expect(out.exitCode, out.all).toBe(exitCode);
    for (const line of out.stderr.split('\n').filter(Boolean)) expect(schemaErrors('stderr', JSON.parse(line)), line).toEqual([]);
    const value: unknown = JSON.parse(out.stdout);
    expect(schemaErrors(schema, value).join('\n') || 'valid', out.stdout.slice(0, 2000)).toBe('valid');
    return value;
  };
  /** The first `count` JSON lines a command that goes on printing (a watch) prints, then it is stopped. */
  const lines = async (args: string[], count: number, act?: (child: ReturnType<typeof execa>) => Promise<void>) => {
    const child = execa('node', [rigBin, ...args, '--json'], { cwd: r.dir, env: { CI: 'true' }, reject: false });
    const got: unknown[] = [];
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${args.join(' ')} printed ${got.length} of ${count} lines`)), 60_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const whole = buffered.split('\n');
        buffered = whole.pop()!;
        got.push(...whole.filter(Boolean).map((l) => JSON.parse(l) as unknown));
        if (got.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      });
      act?.(child).catch(reject);
    }).finally(() => child.kill('SIGINT'));
    await child;
    return got.slice(0, count);
  };

  it('status and up --dry-run name a rig by name, a node by fqdn, name, ip and stage', async () => {
    const [status] = (await json(['status', '--name', r.name], 'status')) as Array<{ name: string; nodes: Array<Record<string, string>> }>;
    expect(status.name).toBe(r.name);
    expect(status.nodes[0]).toMatchObject({ fqdn: 'barn.shapes.test', name: 'barn', stage: 'ready', mirrors: 'straleb.prod.example' });
    expect(status.nodes[0].ip).toMatch(/^10\./);
    const plan = (await json(['up', 'rig.yaml', '--dry-run'], 'up-dry-run')) as { action: string; name: string };
    expect(plan).toMatchObject({ action: 'nothing', name: r.name });
  });

  it('trace (--format json): stages by fqdn, the critical path of the up', async () => {
    const trace = (await json(['trace', '--name', r.name, '--format', 'json'], 'trace')) as {
      name: string;
      criticalPath: { steps: unknown[] };
    };
    expect(trace.name).toBe(r.name);
    expect(trace.criticalPath.steps.length).toBeGreaterThan(0);
  });

  it('ls, inventory, facts and one fact', async () => {
    const ls = (await json(['ls'], 'ls')) as Array<{ name: string; counts: object }>;
    expect(ls.find((l) => l.name === r.name)?.counts).toEqual({ nodes: 2, ready: 2, failed: 0 });
    const inventory = (await json(['inventory', '--name', r.name, '--format', 'json'], 'inventory')) as { nodes: unknown[] };
    expect(inventory.nodes[0]).toMatchObject({ fqdn: 'barn.shapes.test', name: 'barn', roles: ['db'], stage: 'ready' });
    await json(['facts', 'barn', '--name', r.name], 'facts');
    expect(await json(['facts', 'barn', 'hostname', '--name', r.name], 'fact')).toEqual({
      rig: r.name,
      fqdn: 'barn.shapes.test',
      name: 'barn',
      fact: 'hostname',
      value: 'barn',
    });
  });

  it('test, provision and update: results name their node by fqdn', async () => {
    const checks = (await json(['test', '--name', r.name], 'test', 1)) as Array<{ fqdn: string; passed: boolean }>;
    expect(checks.map((c) => [c.fqdn, c.passed])).toEqual([
      ['barn.shapes.test', true],
      ['mill.shapes.test', false],
    ]);
    const provisioned = (await json(['provision', 'barn', '--name', r.name], 'provision')) as Array<{ fqdn: string }>;
    expect(provisioned.map((p) => p.fqdn)).toEqual(['barn.shapes.test']);
    const updated = (await json(['update', 'barn', '--name', r.name], 'update')) as { updated: string[] };
    expect(updated.updated).toEqual(['barn.shapes.test']);
  });

  it('status --watch and watch print JSON lines of their shapes', async () => {
    const stages = await lines(['status', '--watch', '--name', r.name], 2);
    for (const line of stages) expect(schemaErrors('status-watch', line)).toEqual([]);
    expect(stages).toContainEqual(expect.objectContaining({ rig: r.name, fqdn: 'barn.shapes.test', name: 'barn', stage: 'ready' }));
    const [verdict] = await lines(['watch', '--name', r.name], 1, async (child) => {
      // Its note once every directory is watched (stderr, a JSON line with the directories): an edit from then on is seen.
      let said = '';
      await new Promise<void>((resolve) =>
        child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()).includes('"watching"') && resolve()),
      );
      writeFileSync(join(r.dir, 'note.txt'), 'a change');
    });
    expect(schemaErrors('watch', verdict)).toEqual([]);
  });

  it('check, doctor, images, gc, and down last', async () => {
    await json(['check', 'rig.yaml'], 'check');
    const doctor = await rig(['doctor', '--json']);
    expect(schemaErrors('doctor', JSON.parse(doctor.stdout))).toEqual([]);
    await json(['images', 'build'], 'images');
    await json(['gc'], 'gc');
    const [down] = (await json(['down', '--name', r.name], 'down')) as Array<{ rig: string; containers: number }>;
    expect(down).toMatchObject({ rig: r.name, containers: 3 });
  });
});
