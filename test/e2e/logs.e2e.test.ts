import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { expectFollowed, rig, useRig } from './helpers.js';

describe('rig logs', () => {
  const { name } = useRig(
    'logs',
    (name) =>
      `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  dock.village.test:\n  lex.village.test:\n    backend: lxc\n`,
  );
  const logs = (...args: string[]) => rig(['logs', '--name', name, ...args]);

  it("shows every node of the rig with no node named, each line after its node's name", async () => {
    const all = await logs();
    expect(all.exitCode, all.all).toBe(0);
    expect(all.stdout).toMatch(/^dock \| rig-agent: ready: dock\.village\.test/m);
    expect(all.stdout).toMatch(/^lex {2}\| rig-agent: ready: lex\.village\.test/m);
  });

  it("takes --tail, --timestamps and --since, and the sidecar's log", async () => {
    for (const node of ['dock', 'lex']) {
      const last = await logs(node, '--tail', '1');
      expect(last.stdout.split('\n'), node).toEqual([`rig-agent: ready: ${node}.village.test at ${last.stdout.split(' at ')[1]}`]);
    }
    for (const node of ['dock', 'lex']) {
      const stamped = await logs(node, '--timestamps', '--tail', '2');
      expect(stamped.exitCode, stamped.all).toBe(0);
      const lines = stamped.stdout.split('\n');
      expect(lines.length, node).toBeGreaterThan(0);
      expect(
        lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z /.test(l)),
        stamped.stdout,
      ).toBe(true);
      const when = Date.parse(lines[lines.length - 1].split(' ')[0]);
      expect(Math.abs(Date.now() - when), node).toBeLessThan(10 * 60_000); // a time of this run
      expect((await logs(node, '--since', '2030-01-01T00:00:00Z')).stdout, node).toBe('');
      const recent = await logs(node, '--since', '10m');
      expect(recent.stdout, node).toContain(`rig-agent: ready: ${node}.village.test`);
      expect(recent.stdout, node).not.toMatch(/^\d{4}-\d\d-\d\dT/m); // times only when asked for
    }
    const sidecar = await logs('--sidecar');
    expect(sidecar.stdout).toMatch(/dnsmasq/);
    expect(sidecar.stdout).toMatch(/etcd|serving client/);
    expect((await logs('dock', '--tail', 'x')).exitCode).toBe(2);
  });

  for (const [node, write] of [
    ['dock', ['docker', 'exec', `rig-${name}.dock`, 'sh', '-c', 'echo "a line that came later" > /proc/1/fd/1']],
    [
      'lex',
      ['lxc-attach', '-P', '/var/lib/lxc', '-n', `rig-${name}.lex`, '--', 'sh', '-c', 'echo "a line that came later" > /dev/console'],
    ],
  ] as const) {
    it(`follows ${node}'s log with -f until Ctrl-C`, async () => {
      await expectFollowed(name, node, () => execa(write[0], write.slice(1)));
    });
  }
});
