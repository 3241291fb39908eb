import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, eventually, fixtureDir, leftovers, rig, uniqueName, useRig } from './helpers.js';

/** How many times a node's log says its steps ran (the agent's first run, and each `rig provision`). */
const runs = async (rigName: string, node: string) =>
  (await rig(['logs', node, '--name', rigName])).stdout.split('\n').filter((l) => l.startsWith('rig-agent: step 1/1')).length;

describe('rig provision: edits reach a rig that is up', () => {
  // Each node's live hiera file says what it serves; a step writes it where validate looks.
  const r = useRig(
    'edit',
    (name) => `name: ${name}
domain: village.test
network: { internal: true }
provision:
  - shell: |
      sed -n 's/^colour: //p' "hieradata/nodes/$RIG_NODE.yaml" > /tmp/colour
      rig-fact set colour "$(cat /tmp/colour)"
nodes:
  barn.village.test:
    mirrors: straleb.prod.example
    validate: ['test "$(cat /tmp/colour)" = blue']
  loft.village.test:
    mirrors: straleb.prod.example
    validate: ['test "$(cat /tmp/colour)" != red']
  mill.village.test:
    mirrors: kelda.prod.example
    validate: ['test -s /tmp/colour']
  well.village.test:
    mirrors: hobb.prod.example
    needs: [barn]
    backend: lxc
    validate: ['test -s /tmp/colour']
`,
    {
      'hieradata/nodes/straleb.prod.example.yaml': 'colour: red\n',
      'hieradata/nodes/kelda.prod.example.yaml': 'colour: green\n',
      'hieradata/nodes/hobb.prod.example.yaml': 'colour: grey\n',
    },
  );

  it('validate fails before the edit', async () => {
    const test = await rig(['test', '--name', r.name]);
    expect(test.exitCode).toBe(1);
    expect((await rig(['facts', 'barn', 'colour', '--name', r.name])).stdout.trim()).toBe('red');
  });

  it('re-runs only the named node: the edit to its live hiera file is seen at once, validate passes, the others are not touched', async () => {
    writeFileSync(join(r.dir, 'hieradata/nodes/straleb.prod.example.yaml'), 'colour: blue\n');
    const before = { mill: await runs(r.name, 'mill'), well: await runs(r.name, 'well') };
    const provision = await rig(['provision', 'barn', '--name', r.name]);
    expect(provision.exitCode, provision.all).toBe(0);
    expect(provision.stdout).toMatch(/^barn\.village\.test\s+provisioned in [\d.]+ s, validate 1\/1 passed$/m);
    expect(provision.stdout).not.toContain('mill');
    expect((await rig(['facts', 'barn', 'colour', '--name', r.name])).stdout.trim()).toBe('blue'); // republished
    expect(await runs(r.name, 'barn')).toBe(2); // the node's own log shows the second run
    expect({ mill: await runs(r.name, 'mill'), well: await runs(r.name, 'well') }).toEqual(before);
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready', 'ready', 'ready']);
  });

  it("an edit to a live node's hiera file reaches the nodes mirroring it (--mirrors), and only them; a peer waiting for the change reacts", async () => {
    writeFileSync(join(r.dir, 'hieradata/nodes/straleb.prod.example.yaml'), 'colour: red\n');
    const before = { mill: await runs(r.name, 'mill'), well: await runs(r.name, 'well') };
    // mill waits (an etcd watch) for barn's colour to be written again, as a peer of a re-provisioned node would,
    // and for loft's next stage.
    const waitIn = (node: string, fact: string) => {
      const waiter = rig([
        'exec',
        'mill',
        '--name',
        r.name,
        '--',
        '/.rig/bin/rig-fact',
        'wait',
        '--change',
        '--timeout',
        '300',
        node,
        fact,
      ]);
      const seen: { result?: Awaited<typeof waiter> } = {};
      void waiter.then((w) => (seen.result = w));
      return { waiter, seen };
    };
    const colour = waitIn('barn', 'colour');
    const stage = waitIn('loft', 'stage');
    // Both waiters follow their etcd watch (busybox wget on /v3/watch) before anything is written: a watch begun
    // between loft's `provisioning 1/1` and its `ready` would see only the second. Each read its key before its
    // watch, and watches from the revision after that read: from then on no write is missed.
    const watching = async () =>
      (await docker(['exec', `rig-${r.name}.mill`, '/.rig/bin/ps'])).split('\n').filter((l) => l.includes('/v3/watch')).length >= 2;
    expect(await eventually(watching, 30_000, 50)).toBe(true);
    const provision = await rig(['provision', '--mirrors', 'straleb.prod.example', '--name', r.name]);
    expect(provision.exitCode).toBe(1); // both ran; barn's validate wants blue, loft's anything but red
    expect(provision.stdout).toMatch(/^barn\.village\.test\s+provisioned in [\d.]+ s, validate 0\/1 passed$/m);
    expect(provision.stdout).toMatch(/^loft\.village\.test\s+provisioned in [\d.]+ s, validate 0\/1 passed$/m);
    expect(provision.stdout).not.toMatch(/mill|well/);
    expect((await rig(['facts', 'loft', 'colour', '--name', r.name])).stdout.trim()).toBe('red');
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([colour.waiter, stage.waiter]), new Promise((resolve) => (bound = setTimeout(resolve, 60_000)))]);
    clearTimeout(bound);
    expect(colour.seen.result?.exitCode, colour.seen.result?.all).toBe(0);
    expect(colour.seen.result?.stdout.trim()).toBe('red');
    expect(stage.seen.result?.stdout.trim()).toBe('provisioning 1/1'); // the stage moves, then back to ready:
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready', 'ready', 'ready']);
    expect({ mill: await runs(r.name, 'mill'), well: await runs(r.name, 'well') }).toEqual(before); // not touched
    writeFileSync(join(r.dir, 'hieradata/nodes/straleb.prod.example.yaml'), 'colour: blue\n');
    expect((await rig(['provision', '--mirrors', 'straleb.prod.example', '--name', r.name])).exitCode).toBe(0);
  });

  it('provisions all nodes in the order of their needs, Docker and LXC alike, and says which failed', async () => {
    writeFileSync(join(r.dir, 'hieradata/nodes/straleb.prod.example.yaml'), 'colour: black\n');
    const provision = await rig(['provision', '--name', r.name, '--json']);
    expect(provision.exitCode).toBe(1); // barn's validate wants blue
    const results = JSON.parse(provision.stdout) as Array<{ fqdn: string; exitCode: number; checks: Array<{ passed: boolean }> }>;
    expect(results.map((x) => [x.fqdn, x.exitCode, x.checks.every((c) => c.passed)])).toEqual([
      ['barn.village.test', 0, false],
      ['loft.village.test', 0, true],
      ['mill.village.test', 0, true],
      ['well.village.test', 0, true],
    ]);
    const notes = provision.stderr.split('\n').filter((l) => l.includes(': provisioning'));
    expect(notes.findIndex((l) => l.includes('well.'))).toBeGreaterThan(notes.findIndex((l) => l.includes('barn.'))); // well needs barn
  });

  it('marks a node whose step fails as failed, with the step, and exits 1', async () => {
    writeFileSync(join(r.dir, 'hieradata/nodes/kelda.prod.example.yaml'), 'colour: green\n');
    const script = readFileSync(join(r.dir, 'rig.yaml'), 'utf8');
    expect(script).toContain('sed -n'); // the steps are the ones the node was made with
    await docker([
      'exec',
      `rig-${r.name}.mill`,
      'sh',
      '-c',
      'chmod 000 /tmp/colour && chattr +i /tmp/colour 2>/dev/null; rm -f /tmp/colour; mkdir /tmp/colour',
    ]);
    const provision = await rig(['provision', 'mill', '--name', r.name]);
    expect(provision.exitCode).toBe(1);
    expect(provision.stdout).toMatch(/^mill\.village\.test\s+FAILED: step 1\/1 \(shell\) exited \d+$/m);
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.find((n: { fqdn: string }) => n.fqdn === 'mill.village.test').stage).toMatch(/^failed: step 1\/1 \(shell\) exited/);
  });

  it('provisions a node that failed again, and says so', async () => {
    await docker(['exec', `rig-${r.name}.mill`, 'rmdir', '/tmp/colour']);
    const again = await rig(['provision', 'mill', '--name', r.name]);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stderr).toMatch(/mill\.village\.test failed before \(failed: step 1\/1 \(shell\) exited \d+\); provisioning it again/);
    expect(again.stdout).toMatch(/^mill\.village\.test\s+provisioned in [\d.]+ s, validate 1\/1 passed$/m);
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.find((n: { fqdn: string }) => n.fqdn === 'mill.village.test').stage).toBe('ready');
  });

  it('refuses bad input: a node not in the rig, a rig not up', async () => {
    const nosuch = await rig(['provision', 'nosuch', '--name', r.name]);
    expect(nosuch.exitCode).toBe(2);
    expect(nosuch.stderr).toContain('barn.village.test, loft.village.test, mill.village.test, well.village.test');
    const notUp = await rig(['provision', '--name', 'no-such-rig-here']);
    expect(notUp.exitCode).toBe(2);
    expect(notUp.stderr).toContain('No rig named no-such-rig-here is up');
    const mirrors = await rig(['provision', '--mirrors', 'nosuch.prod.example', '--name', r.name]);
    expect(mirrors.exitCode).toBe(2);
    expect(mirrors.stderr).toContain('the live nodes it mirrors: hobb.prod.example, kelda.prod.example, straleb.prod.example');
    const both = await rig(['provision', 'barn', '--mirrors', 'straleb.prod.example', '--name', r.name]);
    expect(both.exitCode).toBe(2);
  });
});

describe('idempotence', () => {
  it('catches a Puppet step that changes something on every run, with what changed; a converging one passes', async () => {
    const name = uniqueName('idem');
    const fixture = fixtureDir(`name: ${name}
domain: village.test
image: rig:puppet
network: { internal: true }
configs: []
nodes:
  calm.village.test:
    provision:
      - puppet: manifests/calm.pp
  restless.village.test:
    provision:
      - puppet: manifests/restless.pp
`);
    try {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(fixture.dir, 'manifests'));
      writeFileSync(join(fixture.dir, 'manifests/calm.pp'), 'file { \'/tmp/calm\': content => "still\\n" }\n');
      writeFileSync(join(fixture.dir, 'manifests/restless.pp'), "exec { 'stamp': command => '/bin/date > /tmp/stamp' }\n");
      const up = await rig(['up', 'rig.yaml', '--idempotent'], { cwd: fixture.dir });
      expect(up.exitCode).toBe(1);
      expect(up.stderr).toMatch(
        /restless\.village\.test failed: not idempotent: step 1\/1 \(puppet\) changed on the second run: .*Exec\[stamp\]\/returns: executed successfully/,
      );
      await rig(['down', '--name', name]);

      const kept = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
      expect(kept.exitCode, kept.all).toBe(0);
      const calm = await rig(['provision', 'calm', '--idempotent', '--name', name]);
      expect(calm.exitCode, calm.all).toBe(0);
      expect(calm.stdout).toMatch(/^calm\.village\.test\s+provisioned in [\d.]+ s, second run changed nothing$/m);
      const restless = await rig(['provision', 'restless', '--idempotent', '--name', name]);
      expect(restless.exitCode).toBe(1);
      expect(restless.stdout).toMatch(
        /restless\.village\.test\s+FAILED: not idempotent: step 1\/1 \(puppet\) changed on the second run: .*Exec\[stamp\]/,
      );
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('update methods and rolling updates', () => {
  // Each node's update writes a version; its validate wants it. The second node's update cannot pass its validate.
  const r = useRig(
    'roll',
    (name) => `name: ${name}
domain: village.test
network: { internal: true }
configs: []
update:
  - echo 2 > /tmp/version
validate:
  - test "$(cat /tmp/version 2>/dev/null || echo 1)" = 2 || test ! -e /tmp/version
nodes:
  a.village.test:
    mirrors: web.prod.example
  b.village.test:
    mirrors: web.prod.example
    validate: ['test ! -e /tmp/version']
  c.village.test:
    backend: lxc
    mirrors: web.prod.example
  d.village.test:
    update: []
`,
  );

  it("records each node's update and validate commands on the node, for any tool to read", async () => {
    const labels = JSON.parse(await docker(['inspect', '-f', '{{json .Config.Labels}}', `rig-${r.name}.a`]));
    expect(JSON.parse(labels['io.rig.update'])).toEqual(['echo 2 > /tmp/version']);
    expect(JSON.parse(labels['io.rig.validate'])).toHaveLength(1);
    const lxcConfig = readFileSync(`/var/lib/lxc/rig-${r.name}.c/config`, 'utf8');
    expect(lxcConfig).toContain('# io.rig.update = ["echo 2 > /tmp/version"]');
    expect(lxcConfig).toMatch(/^# io\.rig\.validate = \["test .*"\]$/m);
  });

  it('updates one node at a time and stops at the first that fails validation: the third is never updated', async () => {
    const update = await rig(['update', '--batch', '1', '--name', r.name]);
    expect(update.exitCode).toBe(1);
    expect(update.stdout).toMatch(/^a\.village\.test {2}updated in [\d.]+ s, validate 1\/1 passed$/m);
    expect(update.stdout).toMatch(/^b\.village\.test {2}FAILED: validate command "test ! -e \/tmp\/version" exited 1$/m);
    expect(update.stdout).toContain('updated: a.village.test');
    expect(update.stdout).toContain(
      'not updated: b.village.test, c.village.test (c.village.test not run: the update stopped at the first failure)',
    );
    expect(update.stdout).not.toContain('d.village.test'); // it declares no update
    const version = async (node: string) => (await rig(['exec', node, '--name', r.name, '--', 'cat', '/tmp/version'])).stdout.trim();
    expect(await version('a')).toBe('2');
    expect(await version('c')).toBe(''); // never updated
  });

  it('selects nodes by the live node they mirror, and runs batches of N at once', async () => {
    const json = await rig(['update', '--mirrors', 'web.prod.example', '--batch', '3', '--json', '--name', r.name]);
    expect(json.exitCode).toBe(1);
    const result = JSON.parse(json.stdout) as { updated: string[]; notUpdated: string[] };
    expect(result.updated.sort()).toEqual(['a.village.test', 'c.village.test']); // one batch: all three ran
    expect(result.notUpdated).toEqual(['b.village.test']);
  });

  it('refuses bad input: --batch 0, an unknown node or live node, a rig not up, a node without update:', async () => {
    const zero = await rig(['update', '--batch', '0', '--name', r.name]);
    expect(zero.exitCode).toBe(2);
    expect(zero.stderr).toContain('--batch "0" is not a number of nodes');
    const mirrors = await rig(['update', '--mirrors', 'nosuch.prod.example', '--name', r.name]);
    expect(mirrors.exitCode).toBe(2);
    expect(mirrors.stderr).toContain('the live nodes it mirrors: web.prod.example');
    const nosuch = await rig(['update', 'nosuch', '--name', r.name]);
    expect(nosuch.exitCode).toBe(2);
    expect(nosuch.stderr).toContain('a.village.test, b.village.test, c.village.test, d.village.test');
    const notUp = await rig(['update', '--name', 'no-such-rig-here']);
    expect(notUp.exitCode).toBe(2);
    expect(notUp.stderr).toContain('No rig named no-such-rig-here is up');
    const d = await rig(['update', 'd', '--name', r.name]);
    expect(d.exitCode).toBe(2);
    expect(d.stderr).toContain('d.village.test declares no update: commands');
  });
});

describe('idempotence of shell steps that say what they changed (changed_exit)', () => {
  const r = useRig(
    'idemsh',
    (name) => `name: ${name}
domain: village.test
network: { internal: true }
configs: []
nodes:
  settles.village.test:
    provision:
      - shell: "if [ -e /tmp/done ]; then exit 0; fi; touch /tmp/done; exit 2"
        changed_exit: 2
  churns.village.test:
    provision:
      - shell: "date >> /tmp/runs; echo appended run $(grep -c . /tmp/runs) to /tmp/runs; exit 2"
        changed_exit: 2
  plain.village.test:
    provision:
      - shell: echo nothing to say
    validate: ['true']
`,
  );

  it('takes the change exit code as success, and fails --idempotent when the second run still changes something', async () => {
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready', 'ready']); // exit 2 said "changed", not "failed"
    const settles = await rig(['provision', 'settles', '--idempotent', '--name', r.name]);
    expect(settles.exitCode, settles.all).toBe(0);
    expect(settles.stdout).toMatch(/^settles\.village\.test\s+provisioned in [\d.]+ s, second run changed nothing$/m);
    // A step without changed_exit only has to succeed: the line says it cannot tell.
    const plain = await rig(['provision', 'plain', '--idempotent', '--name', r.name]);
    expect(plain.exitCode, plain.all).toBe(0);
    expect(plain.stdout).toMatch(
      /^plain\.village\.test\s+provisioned in [\d.]+ s, second run succeeded \(step 1\/1 \(shell\) cannot tell whether it changed anything: no changed_exit\), validate 1\/1 passed$/m,
    );
    const churns = await rig(['provision', 'churns', '--idempotent', '--name', r.name]);
    expect(churns.exitCode).toBe(1);
    expect(churns.stdout).toMatch(
      /churns\.village\.test\s+FAILED: not idempotent: step 1\/1 \(shell\) said it changed something on the second run \(exit 2\): appended run 3 to \/tmp\/runs$/m,
    );
  });
});

describe('rig provision on nodes with init: systemd (the agent a service of systemd), Docker and LXC', () => {
  const r = useRig(
    'provsd',
    (name) => `name: ${name}
domain: sd.test
init: systemd
image: rig:systemd
network: { internal: true }
configs: []
provision:
  - shell: echo run >> /tmp/runs
validate:
  - test "$(grep -c run /tmp/runs)" -ge 2
nodes:
  dock.sd.test:
  cont.sd.test:
    backend: lxc
`,
  );

  it("runs the steps again under systemd, in the node's own log, then validates", async () => {
    const provision = await rig(['provision', '--name', r.name]);
    expect(provision.exitCode, provision.all).toBe(0);
    expect(provision.stdout).toMatch(/^cont\.sd\.test\s+provisioned in [\d.]+ s, validate 1\/1 passed$/m);
    expect(provision.stdout).toMatch(/^dock\.sd\.test\s+provisioned in [\d.]+ s, validate 1\/1 passed$/m);
    for (const node of ['dock', 'cont']) expect(await runs(r.name, node), node).toBe(2);
    const [status] = JSON.parse((await rig(['status', '--name', r.name, '--json'])).stdout);
    expect(status.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready']);
  });
});

describe('up of a rig file that changed, on a rig that is up', () => {
  it('recreates the rig with --recreate, printing the plan first', async () => {
    const name = uniqueName('recreate');
    const fixture = fixtureDir(
      `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n`,
    );
    try {
      expect((await rig(['up', 'rig.yaml'], { cwd: fixture.dir })).exitCode).toBe(0);
      writeFileSync(
        fixture.file,
        `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n  mill.village.test:\n`,
      );
      const recreate = await rig(['up', 'rig.yaml', '--recreate'], { cwd: fixture.dir });
      expect(recreate.exitCode, recreate.all).toBe(0);
      expect(recreate.stderr).toMatch(
        /differs from rig\.yaml; recreating it:\nrig: {3}\+ mill\.village\.test \(new\)\nrig: {3}= 1 node unchanged/,
      );
      const [status] = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
      expect(status.nodes.map((n: { fqdn: string; stage: string }) => [n.fqdn, n.stage])).toEqual([
        ['barn.village.test', 'ready'],
        ['mill.village.test', 'ready'],
      ]);
    } finally {
      await rig(['down', '--name', name]);
      fixture.cleanup();
    }
    expect(await leftovers(name)).toEqual([]);
  });
});
