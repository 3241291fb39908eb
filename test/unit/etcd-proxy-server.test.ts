import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// rig-etcd-proxy as a server, on loopback, in front of a fake etcd on a Unix socket (as the sidecar runs it in front
// of etcd's): what it forwards, what it streams, and the limits that are about connections rather than requests.
const PROXY = resolve(import.meta.dirname, '../../images/sidecar/rig-etcd-proxy');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const KEY_NAME = '/rig/r/nodes/a.t/facts/x';
const KEY = b64(KEY_NAME);

interface Seen {
  head: string;
  body: string;
  closed: Promise<void>;
}

/** A fake etcd: records each request; a watch streams one event, then waits; count queries answer `count` keys. */
function fakeEtcd(path: string, state: { count: number; status: number }, seen: Seen[]): Server {
  return createServer((socket: Socket) => {
    let data = '';
    let close!: () => void;
    const closed = new Promise<void>((r) => (close = r));
    socket.on('close', close);
    socket.on('data', (chunk) => {
      data += chunk.toString();
      const end = data.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(data)?.[1] ?? 0);
      if (end < 0 || data.length < end + 4 + length) return;
      const [head, body] = [data.slice(0, end), data.slice(end + 4)];
      seen.push({ head, body, closed });
      if (head.startsWith('POST /v3/watch ')) {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1b\r\n{"result":{"created":true}}\n\r\n');
        return;
      }
      const answer = body.includes('count_only')
        ? JSON.stringify({ count: String(state.count) })
        : body.includes('keys_only')
          ? JSON.stringify({ kvs: Array.from({ length: state.count }, (_, i) => ({ key: b64(`/rig/r/nodes/a.t/facts/k${i}`) })) })
          : JSON.stringify({ header: { revision: '2' } });
      socket.end(`HTTP/1.1 ${state.status} X\r\nContent-Length: ${answer.length}\r\nConnection: close\r\n\r\n${answer}`);
    });
  }).listen(path);
}

describe('rig-etcd-proxy as a server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-proxy-'));
  const state = { count: 0, status: 200 };
  const seen: Seen[] = [];
  let etcd: Server;
  let proxy: ChildProcess;
  let port = 0;

  beforeAll(async () => {
    etcd = fakeEtcd(join(dir, 'etcd'), state, seen);
    port = await new Promise<number>((r) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => r(p));
      });
    });
    // prettier-ignore
    proxy = spawn('python3', [PROXY, `--listen=127.0.0.1:${port}`, `--etcd=unix:${join(dir, 'etcd')}`, `--ready=${join(dir, 'ready')}`,
      '--max-conns=3', '--max-watches=1', '--max-keys=3', '--budget=1000', '--refill=1', '--op-cost=100']);
    for (let i = 0; i < 100 && !existsSync(join(dir, 'ready')); i++) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(() => {
    proxy?.kill();
    etcd?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Send a request; resolve with all the proxy answered once it closes (or with `partial` once that much came). */
  function send(path: string, body: string, { headers = '', hold = false } = {}): { answer: Promise<string>; socket: Socket } {
    const socket = connect(port, '127.0.0.1');
    socket.write(`POST ${path} HTTP/1.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`);
    let out = '';
    const answer = new Promise<string>((r, reject) => {
      socket.on('data', (chunk) => {
        out += chunk.toString();
        if (hold && out.includes('\n\r\n')) r(out);
      });
      socket.on('end', () => r(out));
      socket.on('error', reject);
    });
    return { answer, socket };
  }

  /**
   * Send until the answer matches `expected` (at most 5 s): the proxy counts a connection that opens or closes a
   * moment after this side sees it, and says nothing when it has. The last answer, to be asserted.
   */
  async function sendUntil(
    path: string,
    body: string,
    expected: RegExp,
    { hold = false } = {},
  ): Promise<{ answer: string; socket: Socket }> {
    for (let tries = 1; ; tries++) {
      const sent = send(path, body, { hold });
      const answer = await sent.answer;
      if (expected.test(answer) || tries >= 100) return { answer, socket: sent.socket };
      sent.socket.destroy();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('says it serves with its ready file, and passes a put on as it checked it, with no header of the node but its token', async () => {
    expect(existsSync(join(dir, 'ready'))).toBe(true);
    const put = `{"key": "${KEY}", "value": "${b64('v')}"}`;
    const { answer } = send('/v3/kv/put', put, { headers: 'Authorization: tok.1\r\nGrpc-Metadata-Token: other\r\n' });
    expect(await answer).toMatch(/^HTTP\/1.1 200 X\r\n[\s\S]*"revision":"2"/);
    const forwarded = seen.at(-1)!;
    expect(forwarded.head).toMatch(/^POST \/v3\/kv\/put HTTP\/1.1\r\n/);
    expect(forwarded.head).toContain('\r\nAuthorization: tok.1');
    expect(forwarded.head).not.toMatch(/grpc-metadata/i);
    expect(forwarded.body).toBe(`{"key":"${KEY}","value":"${b64('v')}"}`);
  });

  it('streams a watch as etcd answers it, ends it at etcd when the node goes, and holds a node to its open watches', async () => {
    const watch = `{"create_request": {"key": "${KEY}"}}`;
    const first = send('/v3/watch', watch, { hold: true });
    expect(await first.answer).toContain('{"result":{"created":true}}');
    const second = await send('/v3/watch', watch).answer;
    expect(second).toMatch(/^HTTP\/1.1 429 rig: this node \(127.0.0.1\) has 1 watch open, the most a node may have \(1\)\r\n/);
    const atEtcd = seen.at(-1)!;
    first.socket.destroy();
    await atEtcd.closed; // the proxy closed its side at etcd
    const third = await sendUntil('/v3/watch', watch, /"created":true/, { hold: true });
    expect(third.answer).toContain('"created":true');
    third.socket.destroy();
  });

  it('holds a node to its open connections, and answers a refused request in full (no reset), even one too big to read', async () => {
    const idle = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
    const full = /^HTTP\/1.1 429 rig: this node \(127.0.0.1\) has 3 connections to etcd open, the most a node may have \(3\)/;
    expect((await sendUntil('/v3/kv/range', `{"key": "${KEY}"}`, full)).answer).toMatch(full);
    idle.forEach((s) => s.destroy());
    const big = 'x'.repeat(3 * 1024 * 1024);
    const tooBig = /^HTTP\/1.1 413 rig: the request is 3145728 bytes, 2097152 over the 1048576-byte limit/;
    expect((await sendUntil('/v3/kv/put', big, tooBig)).answer).toMatch(tooBig);
  });

  it('charges every write it passes on, taken or not, and refuses a key past the count etcd gives', async () => {
    // 1000 bytes, refilled at 1 a second, 100 an operation: a put of a 500-byte value costs 100 + its key + 500.
    state.status = 403; // etcd refuses it: it is charged all the same (etcd logged it)
    expect(await send('/v3/kv/put', `{"key": "${KEY}", "value": "${b64('v'.repeat(500))}"}`).answer).toMatch(/^HTTP\/1.1 403 X/);
    state.status = 200;
    const over = await send('/v3/kv/put', `{"key": "${KEY}", "value": "${b64('v'.repeat(500))}"}`).answer;
    expect(over).toMatch(
      new RegExp(
        `^HTTP/1.1 429 rig: this node \\(127.0.0.1\\) is over its write budget: this write costs ${100 + KEY_NAME.length + 500} bytes, \\d+ more than the \\d+ left of 1000`,
      ),
    );
    state.count = 3;
    const key = (name: string) => `{"key": "${b64(`/rig/r/nodes/a.t/facts/${name}`)}", "value": ""}`;
    expect(await send('/v3/kv/put', key('k0')).answer).toMatch(/^HTTP\/1.1 200 X/); // a key it has
    expect(await send('/v3/kv/put', key('new')).answer).toMatch(
      /^HTTP\/1.1 429 rig: a.t has 3 keys; this write would add 1, 1 over the limit of 3 keys a node may have/,
    );
  });
});
