import { afterAll, beforeAll, expect } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { execa, type Result } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';

const root = resolve(import.meta.dirname, '../..');
export const rigBin = join(root, 'bin', 'rig');

/** Run the built CLI as a user would; never throws, returns exit code and output without ANSI codes. */
export async function rig(args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}) {
  const result: Result = await execa('node', [rigBin, ...args], {
    cwd: options.cwd ?? root,
    env: { CI: 'true', ...options.env },
    reject: false,
    timeout: options.timeoutMs ?? 300_000,
    all: true,
  });
  const strip = (s: unknown) => String(s ?? '').replace(/\x1b\[[0-9;]*m/g, '');
  return { exitCode: result.exitCode ?? -1, stdout: strip(result.stdout), stderr: strip(result.stderr), all: strip(result.all) };
}

/** A unique rig name per test run: concurrent runs and files never share a rig. */
export const uniqueName = (prefix: string) => `${prefix}-${process.pid % 100000}-${Math.floor(Math.random() * 1000)}`;

/** A temporary copy of the small hiera-like fixture tree, with a rig file written next to it. */
export function fixtureDir(rigFile: string): { dir: string; file: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rig-e2e-'));
  cpSync(join(root, 'test', 'fixtures', 'village'), dir, { recursive: true });
  const file = join(dir, 'rig.yaml');
  writeFileSync(file, rigFile);
  return { dir, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Path -> sha256 of every regular file and symlink target under dir, to prove nothing of the user's changed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isSymbolicLink()) out[path] = `link`;
      else if (statSync(path).isFile()) out[path] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

export async function docker(args: string[]): Promise<string> {
  return (await execa('docker', args)).stdout;
}

/** Everything of a rig still on the machine: containers and networks by label, firewall rules by comment, port guards by name. */
export async function leftovers(name: string): Promise<string[]> {
  const containers = await docker(['ps', '-a', '--filter', `label=io.rig.rig=${name}`, '--format', '{{.Names}}']);
  const networks = await docker(['network', 'ls', '--filter', `label=io.rig.rig=${name}`, '--format', '{{.Name}}']);
  const rules = (await execa('iptables', ['-S', 'DOCKER-USER'])).stdout.split('\n').filter((r) => r.includes(`rig:${name}`));
  const guards = (await execa('nft', ['list', 'tables', 'bridge'])).stdout.split('\n').filter((t) => t.includes(`rig.${name}.`));
  return [...containers.split('\n'), ...networks.split('\n'), ...rules, ...guards].filter(Boolean);
}

/** Ask a DNS server for a name's A records over UDP, from the host (as a user would with dig @server name). */
export async function queryA(server: string, name: string): Promise<string[]> {
  const { createSocket } = await import('node:dgram');
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const query = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  const socket = createSocket('udp4');
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DNS answer from ${server} for ${name}`)), 3000);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(query, 53, server);
    });
    const answers = reply.readUInt16BE(6);
    let offset = query.length;
    const found: string[] = [];
    for (let i = 0; i < answers; i++) {
      offset += (reply[offset] & 0xc0) === 0xc0 ? 2 : reply.indexOf(0, offset) - offset + 1;
      const type = reply.readUInt16BE(offset);
      const length = reply.readUInt16BE(offset + 8);
      if (type === 1) found.push([...reply.subarray(offset + 10, offset + 14)].join('.'));
      offset += 10 + length;
    }
    return found;
  } finally {
    socket.close();
  }
}

/** The host ends of a rig's node veths still on this machine (each is named from the rig and node names). */
export async function vethsLeft(rig: string, nodes: string[]): Promise<string[]> {
  const { nodeWiring } = await import('../../src/runtime/veth.js');
  const { existsSync } = await import('node:fs');
  return nodes.map((n) => nodeWiring(rig, n).hostInterface).filter((i) => existsSync(`/sys/class/net/${i}`));
}

/**
 * Wait until `check` holds, looking every `everyMs`, for at most `ms`; returns whether it held. Test-side only:
 * rig itself never polls. For things that settle in the background (a reaper's work, the kernel removing a veth).
 */
export async function eventually(check: () => Promise<boolean>, ms: number, everyMs = 200): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, everyMs))) if (await check()) return true;
  return check();
}

/**
 * A node's one IPv4 address, from `ip -4 -o addr show dev eth0` run inside it, checked against what rig says of it:
 * its status, its DHCP lease in the rig's dnsmasq, and the ipaddress fact it published. Returns the address.
 */
export async function expectAgreedAddress(
  rigName: string,
  node: { fqdn: string; ip: string },
  ipOutput: string,
  leases: string,
): Promise<string> {
  const { expect } = await import('vitest');
  const lines = ipOutput.trim().split('\n');
  expect(lines, node.fqdn).toHaveLength(1);
  const address = /inet (\S+)\//.exec(lines[0])![1];
  expect(node.ip).toBe(address);
  expect(leases).toMatch(new RegExp(`\\s${address.replaceAll('.', '\\.')} ${node.fqdn.split('.')[0]}\\s`));
  const fact = await rig(['facts', node.fqdn, 'ipaddress', '--name', rigName]);
  expect(fact.stdout.trim()).toBe(address);
  return address;
}

/**
 * A rig for one describe block: its rig file (given the rig's unique name) in a fixture directory, brought up
 * with `files` (relative path -> text) beside it, brought up before the tests and taken down after them, leaving
 * nothing. Read `name` and `dir` inside the tests.
 */
export function useRig(
  prefix: string,
  rigFile: (name: string) => string,
  files: Record<string, string> = {},
): { name: string; dir: string } {
  const name = uniqueName(prefix);
  const fixture = fixtureDir(rigFile(name));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(fixture.dir, path)), { recursive: true });
    writeFileSync(join(fixture.dir, path), text);
  }
  beforeAll(async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
  });
  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });
  return { name, dir: fixture.dir };
}

/**
 * `puppet apply` once more in a node, by hand, as the agent's puppet step runs it for a control repo laid out as
 * control-repo/{manifests/site.pp, site-modules, hiera.yaml}; with --detailed-exitcodes, 0 means it changed nothing.
 */
export function applyAgain(rigName: string, node: string) {
  const apply =
    'cd /.rig-repo && puppet apply --detailed-exitcodes --color=false --certname "$RIG_NODE" ' +
    '--modulepath control-repo/site-modules:$(puppet config print basemodulepath) --hiera_config control-repo/hiera.yaml control-repo/manifests/site.pp';
  return rig(['exec', node, '--name', rigName, '--', 'sh', '-c', apply]);
}

/** The CLI as a process of its own, so that a test can send it signals; its stdout and stderr, interleaved. */
export interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const spawned: ChildProcess[] = [];

export function spawnRig(args: string[], cwd?: string): Spawned {
  const child = spawn('node', [rigBin, ...args], { cwd, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  spawned.push(child);
  return { child, output: () => out, exited };
}

/**
 * Resolve once the process has printed a line matching `pattern` (false if it ended first), as the line arrives:
 * a test acts at a phase it saw, whatever the machine's speed. Rejects after `ms` (a bound on a hang).
 */
export function printed(run: Spawned, pattern: RegExp, ms = 120_000): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const timer = setTimeout(
      () => finish(() => reject(new Error(`no line matching ${pattern} within ${ms / 1000} s:\n${run.output()}`))),
      ms,
    );
    const check = () => pattern.test(run.output()) && finish(() => resolve(true));
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      run.child.stdout!.off('data', check);
      run.child.stderr!.off('data', check);
      settle();
      return true;
    };
    // After spawnRig's own listeners, which add the chunk to the output first.
    run.child.stdout!.on('data', check);
    run.child.stderr!.on('data', check);
    run.child.once('close', () => finish(() => resolve(pattern.test(run.output())))); // its output is all read by then
    check();
  });
}

/** Kill what spawnRig started and is still running (a test that failed half-way): call it in afterEach. */
export function killSpawned(): void {
  for (const child of spawned.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The process's end, or a failure naming what hung (a bound on a hang, not a timing assertion); a hung one is killed. */
export async function ended(run: Spawned, ms = 120_000) {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms / 1000} s:\n${run.output()}`)), ms)),
  );
  try {
    return await Promise.race([run.exited, hung]);
  } finally {
    clearTimeout(timer);
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  }
}

/**
 * `rig logs NODE -f --tail 0` of a rig, then `write` (which prints "a line that came later" into the node's log)
 * until the follow shows that line; asserts it does, within 20 s, and that Ctrl-C ends the follow with exit 0.
 */
export async function expectFollowed(rigName: string, node: string, write: () => Promise<unknown>): Promise<void> {
  const follow = execa('node', [rigBin, 'logs', '--name', rigName, node, '-f', '--tail', '0'], { reject: false, env: { CI: 'true' } });
  let out = '';
  follow.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  try {
    const seen = await eventually(
      async () => {
        await write();
        return out.includes('a line that came later');
      },
      20_000,
      500,
    );
    expect(seen, out).toBe(true);
  } finally {
    follow.kill('SIGINT');
  }
  expect((await follow).exitCode).toBe(0);
}
