import { describe, expect, it } from 'vitest';
import { rig, useRig } from './helpers.js';

describe('rig test never loses the results it computed', () => {
  const r = useRig(
    'results',
    (name) => `name: ${name}
domain: r.test
network: { internal: true }
configs: []
nodes:
  a.r.test:
    validate:
      - echo ran >>/tmp/checks-ran
      - 'true'
`,
  );

  const runs = async () =>
    (await rig(['exec', 'a', '--name', r.name, '--', 'sh', '-c', 'cat /tmp/checks-ran 2>/dev/null | wc -l'])).stdout.trim();

  it('refuses a JUnit path in a directory that does not exist, before any check runs', async () => {
    const before = await runs();
    const test = await rig(['test', '--name', r.name, '--junit', '/nonexistent/dir/x.xml']);
    expect(test.exitCode, test.all).toBe(2);
    expect(test.stderr).toContain('--junit /nonexistent/dir/x.xml: the directory /nonexistent/dir does not exist');
    expect(test.stderr).toContain('mkdir -p /nonexistent/dir');
    expect(await runs()).toBe(before);
    const dir = await rig(['test', '--name', r.name, '--junit', '/tmp']);
    expect(dir.exitCode).toBe(2);
    expect(dir.stderr).toContain('it is a directory');
  });

  it('prints every result when the report cannot be written after the checks, and exits non-zero', async () => {
    const test = await rig(['test', '--name', r.name, '--junit', '/dev/full']); // every write there fails: no space
    expect(test.exitCode, test.all).toBe(1);
    expect(test.stdout).toContain('2 passed, 0 failed');
    expect(test.stdout).toContain('echo ran >>/tmp/checks-ran');
    expect(test.stderr).toContain('the JUnit XML could not be written to /dev/full');
    expect(test.all).not.toContain('internal error');
  });
});
