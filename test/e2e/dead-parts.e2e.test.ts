import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, eventually, fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

describe('a rig whose sidecar is dead', () => {
  const name = uniqueName('dead');
  const fixture = fixtureDir(`name: ${name}\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.dead.test:\n`);
  let sidecar = '';

  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    sidecar = await docker(['ps', '-q', '--filter', `label=io.rig.rig=${name}`, '--filter', 'label=io.rig.role=sidecar']);
    expect(sidecar).not.toBe('');
    await docker(['stop', '-t', '1', sidecar]);
  });

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('status says the sidecar is not running and exits 1, showing stages as unknown', async () => {
    const status = await rig(['status', '--name', name]);
    expect(status.exitCode).toBe(1);
    expect(status.stderr).toContain(`The sidecar of rig ${name} (its dnsmasq and etcd) is not running (exited)`);
    const json = await rig(['status', '--name', name, '--json']);
    expect(json.exitCode).toBe(1);
    const [state] = JSON.parse(json.stdout);
    expect(state.sidecar).toBe('exited');
    expect(state.nodes.map((n: { stage: string }) => n.stage)).toEqual(['unknown']);
  });

  it('facts says so in one sentence, with no stack trace', async () => {
    const facts = await rig(['facts', 'a', '--name', name]);
    expect(facts.exitCode).toBe(1);
    expect(facts.stderr).toContain(`The sidecar of rig ${name} (its dnsmasq and etcd) is not running`);
    expect(facts.stderr).not.toMatch(/^\s+at /m);
    expect(facts.stderr).not.toContain('internal error');
  });

  it('a node that gets no lease (restarted while dnsmasq is down) fails fast, saying so', async () => {
    const node = `rig-${name}.a`;
    await docker(['restart', '-t', '1', node]);
    const stopped = await eventually(async () => (await docker(['inspect', '-f', '{{.State.Running}}', node])) === 'false', 60_000, 500);
    expect(stopped).toBe(true);
    const log = (await rig(['logs', 'a', '--name', name])).stdout;
    expect(log).toContain("no DHCP lease from the rig's dnsmasq");
  });

  it('gc leaves a rig whose kept mark it cannot read, and says why', async () => {
    const gc = await rig(['gc', '--json']);
    expect(gc.exitCode, gc.all).toBe(0);
    const result = JSON.parse(gc.stdout);
    expect(result.removed).not.toContain(name);
    expect(result.left.map((l: { rig: string }) => l.rig)).toContain(name);
    expect(await docker(['network', 'ls', '-q', '--filter', `label=io.rig.rig=${name}`])).not.toBe('');
  });
});
