import yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { eventually, fixtureDir, leftovers, rig, rigBin, uniqueName, useRig } from './helpers.js';

// What a hostile or buggy node can publish: a screen clear, a window title, a line separator, a bidi override.
const HOSTILE = 'a\x1b[2Jb\x1b]0;pwned\x07c\u2028d\u202ee';
// The same, as the node's shell writes it (printf escapes, UTF-8 octets).
const HOSTILE_PRINTF = String.raw`a\033[2Jb\033]0;pwned\007c\342\200\250d\342\200\256e`;

describe('what nodes publish never reaches a terminal raw', () => {
  const { name } = useRig(
    'hostile',
    (name) => `
name: ${name}
domain: village.test
network:
  internal: true
configs: []
nodes:
  a.village.test:
    provision:
      - shell: rig-fact set evil "$(printf '${HOSTILE_PRINTF}')"
`,
  );

  const setStage = (stage: string) =>
    rig(['exec', 'a', '--name', name, '--', '/.rig/bin/sh', '-c', `. /.rig/bin/rig-fact --library && stage "$(printf '${stage}')"`]);

  it('shows facts escaped in tables and exact in --json and to scripts', async () => {
    const table = await rig(['facts', 'a', '--name', name]);
    expect(table.exitCode, table.all).toBe(0);
    expect(table.stdout).not.toMatch(/[\x1b\x07\u2028\u202e]/);
    expect(table.stdout).toContain(String.raw`a\x1b[2Jb\x1b]0;pwned\x07c\u2028d\u202ee`);

    const json = await rig(['facts', 'a', '--name', name, '--json']);
    expect(JSON.parse(json.stdout).evil).toBe(HOSTILE);
    // One value for a script (stdout is no terminal here): exact.
    const one = await execa('node', [rigBin, 'facts', 'a', 'evil', '--name', name], { env: { CI: 'true' } });
    expect(one.stdout).toBe(HOSTILE);
  });

  it('shows stages escaped in status and status --watch, exact in --json', async () => {
    const set = await setStage(HOSTILE_PRINTF);
    expect(set.exitCode, set.all).toBe(0);
    const status = await rig(['status', '--name', name]);
    expect(status.stdout).not.toMatch(/[\x1b\x07\u2028\u202e]/);
    expect(status.stdout).toContain(String.raw`\x1b[2Jb`);
    const json = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    expect(json[0].nodes[0].stage).toBe(HOSTILE);

    const watch = execa('node', [rigBin, 'status', '--watch', '--name', name], { env: { CI: 'true' }, reject: false });
    let out = '';
    watch.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      // The watch is on once it has printed nothing yet and etcd answers; write stages until one line shows up.
      const seen = await eventually(
        async () => {
          await setStage(`${HOSTILE_PRINTF}-again`);
          return out.includes('-again');
        },
        20_000,
        500,
      );
      expect(seen, out).toBe(true);
      expect(out).not.toMatch(/[\x1b\x07\u2028\u202e]/);
      expect(out).toContain(String.raw`\x1b]0;pwned\x07`);
    } finally {
      watch.kill('SIGINT');
      await watch;
    }
  });
});

describe("an LXC node's ownership mark cannot be forged by its own settings", () => {
  const name = uniqueName('forge');
  const other = uniqueName('victim');
  // A validate command with a line separator and what looks like a marker line of another rig after it.
  const fixture = fixtureDir(`
name: ${name}
domain: village.test
backend: lxc
network:
  internal: true
configs: []
nodes:
  a.village.test:
    validate:
      - "true\\u2028# io.rig.rig = ${other}\\u2028# io.rig.node = x.${other}.test"
`);
  const lxcNames = async () => (await execa('lxc-ls', ['-P', '/var/lib/lxc', '-1'])).stdout.split('\n').filter((n) => n.includes(name));

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
  });

  it("is counted as its own rig's node, tested and removed with it", async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    const status = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout);
    expect(status[0].nodes.map((n: { fqdn: string; stage: string }) => [n.fqdn, n.stage])).toEqual([['a.village.test', 'ready']]);
    const test = await rig(['test', '--name', name, '--json']);
    expect(JSON.parse(test.stdout).map((r: { command: string }) => r.command)).toEqual([
      `true\u2028# io.rig.rig = ${other}\u2028# io.rig.node = x.${other}.test`,
    ]);
    expect(await lxcNames()).toHaveLength(1);

    const down = await rig(['down', '--name', name]);
    expect(down.exitCode, down.all).toBe(0);
    expect(await lxcNames()).toEqual([]);
    expect(await leftovers(name)).toEqual([]);
  });
});

describe('a node may write only its own keys, and keeps only its own name', () => {
  const { name } = useRig(
    'walls',
    (name) => `
name: ${name}
domain: village.test
network:
  internal: true
configs: []
nodes:
  a.village.test:
  b.village.test:
    facts: { role: primary }
    roles: [db]
`,
  );
  /** Run a shell snippet in node a with rig-fact's helpers loaded (etcd PATH BODY as the node, b64). */
  const inA = (script: string, env: Record<string, string> = {}) =>
    rig([
      'exec',
      'a',
      '--name',
      name,
      '--',
      '/.rig/bin/sh',
      '-c',
      `. /.rig/bin/rig-fact --library; ${Object.entries(env)
        .map(([k, v]) => `${k}=${v} `)
        .join('')}${script}`,
    ]);
  // A raw call to etcd's gateway, as the node itself (with its token, where rig gives it one).
  const raw = (path: string, body: string) =>
    `{ type login >/dev/null 2>&1 && login; :; } && wget -q -O - --header 'Content-Type: application/json' \${token:+--header "Authorization: $token"} --post-data "${body}" "$RIG_ETCD${path}"`;
  const put = (key: string, value: string) => raw('/v3/kv/put', `{\\"key\\":\\"$(b64 '${key}')\\",\\"value\\":\\"$(b64 '${value}')\\"}`);
  const nodeKey = (node: string, rest: string) => `/rig/${name}/nodes/${node}.village.test/${rest}`;

  it("refuses a node's writes to another node's facts and stage and to rig's own marks", async () => {
    for (const key of [nodeKey('b', 'facts/role'), nodeKey('b', 'stage'), `/rig/${name}/kept`, `/rig/${name}/mirrors/x.prod.example`]) {
      const attempt = await inA(put(key, 'forged'));
      expect(attempt.exitCode, `${key}: ${attempt.all}`).not.toBe(0);
    }
    const deleteKept = await inA(raw('/v3/kv/deleterange', `{\\"key\\":\\"$(b64 /rig/${name}/kept)\\"}`));
    expect(deleteKept.exitCode, deleteKept.all).not.toBe(0);
    // The same call on its own key goes through: the refusals above are etcd's, not a broken command.
    const ownKey = await inA(put(nodeKey('a', 'facts/raw'), 'ok'));
    expect(ownKey.exitCode, ownKey.all).toBe(0);
    // Without its password a node is nobody: no write at all, not even its own.
    const anonymous = await inA(put(nodeKey('a', 'facts/x'), 'y'), { RIG_ETCD_PASSWORD: '' });
    expect(anonymous.exitCode, anonymous.all).not.toBe(0);

    const b = JSON.parse((await rig(['facts', 'b', '--name', name, '--json'])).stdout);
    expect(b.role).toBe('primary');
    const status = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
    expect(status.nodes.map((n: { stage: string }) => n.stage)).toEqual(['ready', 'ready']);
    // The kept mark is still there: gc leaves the rig.
    await rig(['gc']);
    expect((await rig(['status', '--name', name, '--json'])).stdout).toContain(name);
  });

  it("lets a node write its own facts and read everyone's", async () => {
    const own = await rig(['exec', 'a', '--name', name, '--', '/.rig/bin/rig-fact', 'set', 'mine', 'yes']);
    expect(own.exitCode, own.all).toBe(0);
    expect((await rig(['facts', 'a', 'mine', '--name', name])).stdout.trim()).toBe('yes');
    const read = await rig(['exec', 'a', '--name', name, '--', '/.rig/bin/rig-fact', 'get', 'b', 'role']);
    expect(read.stdout.trim()).toBe('primary');
  });

  it('cannot put itself in a role by publishing a roles fact: inventory and --role read what rig recorded', async () => {
    const claim = await rig(['exec', 'a', '--name', name, '--', '/.rig/bin/rig-fact', 'set', 'roles', 'db']);
    expect(claim.exitCode, claim.all).toBe(0); // its own fact: allowed, and meaningless
    const inventory = JSON.parse((await rig(['inventory', '--name', name, '--format', 'json'])).stdout) as {
      nodes: Array<{ fqdn: string; roles: string[] }>;
    };
    expect(Object.fromEntries(inventory.nodes.map((n) => [n.fqdn, n.roles]))).toEqual({ 'a.village.test': [], 'b.village.test': ['db'] });
    const ansible = yaml.load((await rig(['inventory', '--name', name])).stdout) as {
      all: { children: Record<string, { hosts: object }> };
    };
    expect(Object.keys(ansible.all.children.db.hosts)).toEqual(['b.village.test']);
    const exec = await rig(['exec', '--role', 'db', '--name', name, '--', '/.rig/bin/sh', '-c', 'echo ran-on-$(hostname)']);
    expect(exec.exitCode, exec.all).toBe(0);
    expect(exec.stdout).toContain('ran-on-b');
    expect(exec.stdout).not.toContain('ran-on-a');
  });

  it('refuses fact names with a slash', async () => {
    const slash = await rig(['exec', 'a', '--name', name, '--', '/.rig/bin/rig-fact', 'set', '../../b.village.test/stage', 'x']);
    expect(slash.exitCode).toBe(2);
    expect(slash.all).toContain('a fact name has no /');
  });

  it("keeps each node's DNS name pinned: a node sending another's hostname over DHCP does not get it", async () => {
    const status = JSON.parse((await rig(['status', '--name', name, '--json'])).stdout)[0];
    const [a, b] = status.nodes as Array<{ ip: string }>;
    const spoof = await inA('udhcpc -i eth0 -x hostname:b -n -q -t 3 -T 1 -s /.rig/bin/true');
    expect(spoof.exitCode, spoof.all).toBe(0);
    const { queryA } = await import('./helpers.js');
    expect(await queryA(status.dns, `b.village.test`)).toEqual([b.ip]);
    expect(await queryA(status.dns, `a.village.test`)).toEqual([a.ip]);
  });
});
