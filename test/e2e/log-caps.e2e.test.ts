import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import { execa } from 'execa';
import { docker, rigBin, useRig } from './helpers.js';

// Where rig keeps its LXC nodes (LXC's default for root).
const LXC_PATH = '/var/lib/lxc';
const MiB = 1024 * 1024;
/** rig's cap on a node's log (README, Logs): the file being written up to 16 MiB, and the one before it. */
const FILE_CAP = 16 * MiB;
/** Docker checks a json log's size before it writes an entry: a file may end one entry (at most 16 KiB of text) over. */
const ENTRY_SLACK = 64 * 1024;
/** The bound on `rig logs` itself, whatever the log's size. */
const RSS_LIMIT_KB = 100 * 1024;
/** How much more than a `rig logs --tail 1` may take to print a whole capped log (~30 MB): far less than the log. */
const RSS_GROWTH_KB = 20 * 1024;

const MARK = 'last-line-of-the-flood';
// About 100 MB in 200-byte lines: several times the cap. An LXC node's flood goes to its console directly (what a
// hostile process does; the agent's time stamper would take minutes over it), then one line through the agent.
const FLOOD = `yes "$(printf '%0199d' 0)" | head -c 100000000`;

// Records the rig process's own peak RSS into the file RIG_TEST_RSS names, as it exits: the kernel's VmHWM for its
// memory, in KiB (not getrusage's maxrss, which keeps what the process had before exec: a copy of the test's own).
const probeDir = mkdtempSync(join(tmpdir(), 'rig-rss-'));
const preload = join(probeDir, 'rss.cjs');
writeFileSync(
  preload,
  `const fs = require('node:fs');
if (process.env.RIG_TEST_RSS)
  process.on('exit', () => fs.writeFileSync(process.env.RIG_TEST_RSS, /^VmHWM:\\s*(\\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]));
`,
);
afterAll(() => rmSync(probeDir, { recursive: true, force: true }));

/** Under the bound, and far less over a `rig logs --tail 1` than the log it printed. */
function expectLittleMemory(run: Run, small: Run, what: string): void {
  expect(run.peakKb, `${what}: peak RSS ${run.peakKb} KiB`).toBeLessThan(RSS_LIMIT_KB);
  expect(run.peakKb - small.peakKb, `${what}: ${run.peakKb} KiB against ${small.peakKb} KiB for --tail 1`).toBeLessThan(RSS_GROWTH_KB);
}

interface Run {
  exitCode: number | null;
  stderr: string;
  peakKb: number;
  out: Buffer;
}

/**
 * `rig logs ARGS` with its stdout into a file, or into a pipe nobody reads for `slowMs` first (then read in full);
 * `until` (following): once the output has that many bytes, Ctrl-C. Returns its output and its peak RSS.
 */
async function rigLogs(args: string[], { pipe = false, slowMs = 0, until }: { pipe?: boolean; slowMs?: number; until?: number } = {}) {
  const dir = mkdtempSync(join(probeDir, 'run-'));
  const [outFile, rssFile] = [join(dir, 'out'), join(dir, 'rss')];
  const file = createWriteStream(outFile);
  await new Promise((resolve) => file.on('open', resolve));
  const child = spawn('node', [rigBin, 'logs', ...args], {
    stdio: ['ignore', pipe ? 'pipe' : file, 'pipe'],
    env: { ...process.env, CI: 'true', NODE_OPTIONS: `--require ${preload}`, RIG_TEST_RSS: rssFile },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let received = 0;
  if (pipe) {
    await new Promise((resolve) => setTimeout(resolve, slowMs)); // the pipe fills: rig must wait, not keep the rest
    child.stdout!.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (until !== undefined && received >= until) child.kill('SIGINT');
    });
    child.stdout!.pipe(file);
  }
  const killer = until === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), 90_000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  if (!pipe) file.end();
  await new Promise<void>((resolve) => (file.writableFinished ? resolve() : file.on('finish', () => resolve())));
  const run: Run = { exitCode, stderr, peakKb: Number(readFileSync(rssFile, 'utf8')), out: readFileSync(outFile) };
  rmSync(dir, { recursive: true, force: true });
  return run;
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
/** Where two outputs first differ, and what each has there (for a failure's message). */
function difference(got: Buffer, want: Buffer): string {
  let at = 0;
  while (at < got.length && at < want.length && got[at] === want[at]) at++;
  const around = (b: Buffer) => JSON.stringify(b.subarray(Math.max(0, at - 40), at + 40).toString('latin1'));
  return `${got.length} bytes against ${want.length}, first differing at ${at}: ${around(got)} against ${around(want)}`;
}
const lastLines = (data: Buffer, n: number) =>
  data
    .subarray(-64 * 1024)
    .toString()
    .trimEnd()
    .split('\n')
    .slice(-n);

describe('a node that prints far more than its log keeps', () => {
  const { name } = useRig(
    'logcap',
    (name) => `name: ${name}
domain: village.test
network: { internal: true }
configs: []
nodes:
  dock.village.test:
    provision:
      - shell: ${FLOOD}; echo ${MARK}
  lex.village.test:
    backend: lxc
    provision:
      - shell: ${FLOOD} >/dev/console; echo ${MARK}
`,
  );
  const container = (node: string) => `rig-${name}.${node}`;

  /** The files of a Docker node's json log: the one Docker writes (LogPath) and those it rotated. */
  const dockerLogFiles = async () => {
    const path = await docker(['inspect', '-f', '{{.LogPath}}', container('dock')]);
    return readdirSync(dirname(path))
      .filter((f) => f.startsWith(basename(path)))
      .map((f) => ({ file: f, size: statSync(join(dirname(path), f)).size }));
  };
  /** The files of an LXC node's console log: console.log and what LXC rotated. */
  const lxcLogFiles = () =>
    readdirSync(join(LXC_PATH, container('lex')))
      .filter((f) => f.startsWith('console.log'))
      .sort()
      .map((f) => ({ file: f, size: statSync(join(LXC_PATH, container('lex'), f)).size }));

  /** What `rig logs NODE` must print: Docker's own reading of the log; the LXC log without the pty's \r and the agent's times. */
  const read = async (node: string): Promise<Buffer> => {
    if (node === 'dock')
      return Buffer.from(
        (
          await execa('sh', ['-c', `docker logs ${container('dock')} 2>&1`], {
            encoding: 'buffer',
            maxBuffer: 1e9,
            stripFinalNewline: false,
          })
        ).stdout,
      );
    const dir = join(LXC_PATH, container('lex'));
    const text = Buffer.concat(
      lxcLogFiles()
        .reverse()
        .map((f) => readFileSync(join(dir, f.file))),
    ).toString('latin1');
    const lines = text.replace(/\n$/, '').split('\n');
    return Buffer.from(`${lines.map((l) => l.replace(/\r$/, '').replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /, '')).join('\n')}\n`, 'latin1');
  };
  const kept = new Map<string, Promise<Buffer>>(); // the nodes print nothing more: read once each
  const expected = (node: string) => kept.get(node) ?? kept.set(node, read(node)).get(node)!;

  it("keeps a Docker node's json log to two files of 16 MiB", async () => {
    const files = await dockerLogFiles();
    expect(files.length, JSON.stringify(files)).toBe(2); // rotated once at least: the flood is far over the cap
    for (const f of files) expect(f.size, f.file).toBeLessThanOrEqual(FILE_CAP + ENTRY_SLACK);
    expect(files.reduce((sum, f) => sum + f.size, 0)).toBeGreaterThan(FILE_CAP);
  });

  it("keeps an LXC node's console log to two files of 16 MiB", () => {
    const files = lxcLogFiles();
    expect(files.map((f) => f.file)).toEqual(['console.log', 'console.log.1']);
    for (const f of files) expect(f.size, f.file).toBeLessThanOrEqual(FILE_CAP);
    expect(files.reduce((sum, f) => sum + f.size, 0)).toBeGreaterThan(FILE_CAP);
  });

  for (const node of ['dock', 'lex']) {
    it(`rig logs ${node}: the whole kept log, to a file and to a slow pipe, in little memory`, async () => {
      const want = await expected(node);
      expect(want.length).toBeGreaterThan(10 * MiB);
      expect(lastLines(want, 3).join('\n')).toContain(MARK);
      const small = await rigLogs(['--name', name, node, '--tail', '1']);
      expect(small.exitCode, small.stderr).toBe(0);

      const toFile = await rigLogs(['--name', name, node]);
      expect(toFile.exitCode, toFile.stderr).toBe(0);
      expect(sha(toFile.out), difference(toFile.out, want)).toBe(sha(want));
      expectLittleMemory(toFile, small, 'to a file');

      const slow = await rigLogs(['--name', name, node], { pipe: true, slowMs: 2000 });
      expect(slow.exitCode, slow.stderr).toBe(0);
      // All of it arrives, though rig's stdout took nothing for 2 s.
      expect(sha(slow.out), difference(slow.out, want)).toBe(sha(want));
      expectLittleMemory(slow, small, 'to a slow pipe');

      const follow = await rigLogs(['--name', name, node, '-f'], { pipe: true, slowMs: 2000, until: want.length });
      expect(follow.exitCode, follow.stderr).toBe(0); // Ctrl-C once all of it came
      expect(sha(follow.out.subarray(0, want.length)), difference(follow.out, want)).toBe(sha(want));
      expectLittleMemory(follow, small, 'following, to a slow pipe');
    });
  }

  it("rig logs with no node: every node's lines after its name, into a slow pipe, in little memory", async () => {
    const [dock, lex] = [(await expected('dock')).toString('latin1'), (await expected('lex')).toString('latin1')];
    const all = await rigLogs(['--name', name], { pipe: true, slowMs: 2000 });
    expect(all.exitCode, all.stderr).toBe(0);
    const text = all.out.toString('latin1');
    const of = (label: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(label))
        .map((l) => l.slice(label.length))
        .join('\n');
    for (const [label, want] of [
      ['dock | ', dock],
      ['lex  | ', lex],
    ]) {
      const got = Buffer.from(`${of(label)}\n`, 'latin1');
      expect(sha(got), difference(got, Buffer.from(want, 'latin1'))).toBe(sha(Buffer.from(want, 'latin1')));
    }
    expect(all.out.length).toBe(dock.length + lex.length + 7 * (dock.split('\n').length + lex.split('\n').length - 2));
    expect(all.peakKb, `peak RSS ${all.peakKb} KiB`).toBeLessThan(RSS_LIMIT_KB);
  });

  it('takes --tail, --since and --timestamps over a rotated log', async () => {
    const tail = await rigLogs(['--name', name, 'lex', '--tail', '2']);
    expect(tail.out.toString().trimEnd().split('\n')).toEqual([MARK, expect.stringMatching(/^rig-agent: ready: lex\.village\.test /)]);
    const dockTail = await rigLogs(['--name', name, 'dock', '--tail', '3']);
    expect(dockTail.out.toString()).toContain(`${MARK}\n`);
    expect(dockTail.out.toString().trimEnd().split('\n')).toHaveLength(3);
    const stamped = await rigLogs(['--name', name, 'lex', '--tail', '3', '--timestamps']);
    const lines = stamped.out.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /);
    // The LXC node's flood has no times of its own: its lines take the time of the line before, or the time their
    // file was started (the rotated file began during the flood, within the last 10 minutes).
    const since = await rigLogs(['--name', name, 'lex', '--since', '10m']);
    expect(sha(since.out)).toBe(sha(await expected('lex')));
    expect((await rigLogs(['--name', name, 'lex', '--since', '2099-01-01T00:00:00Z'])).out.length).toBe(0);
    expect((await rigLogs(['--name', name, 'dock', '--since', '2099-01-01T00:00:00Z'])).out.length).toBe(0);
  });
});
