import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LxdClient } from '../../src/runtime/lxd/api.js';
import { metadataTarball } from '../../src/runtime/lxd/images.js';
import { isRigs, labelsOf, marksOf } from '../../src/runtime/lxd/marks.js';
import { LxdError } from '../../src/runtime/lxd/transport.js';
import { LxdWebSocket } from '../../src/runtime/lxd/websocket.js';

// rig's LXD client against a stand-in LXD on a Unix socket (no LXD needed): what it makes of LXD's answers, its
// deadlines, and its websocket framing. The real LXD is in test/e2e/lxd-*.e2e.test.ts.

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.reverse()) c();
  cleanup = [];
});

/** A stand-in LXD on a Unix socket: `handle` answers requests, `upgrade` takes websocket upgrades. */
async function fakeLxd(handle: Handler, upgrade?: (req: http.IncomingMessage, socket: Socket) => void): Promise<LxdClient> {
  const dir = mkdtempSync(join(tmpdir(), 'rig-lxd-unit-'));
  const server = http.createServer(handle);
  if (upgrade) server.on('upgrade', upgrade);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(join(dir, 'unix.socket'), resolve));
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return LxdClient.connect({ socket: join(dir, 'unix.socket') });
}

const reply = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** A server's websocket frame (not masked). */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, len])
      : len < 65536
        ? Buffer.from([(fin ? 0x80 : 0) | opcode, 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 127]), Buffer.from(new BigUint64Array([BigInt(len)]).buffer).reverse()]);
  return Buffer.concat([head, payload]);
}

const acceptOf = (key: string) => createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

describe('LXD marks', () => {
  it("are rig's labels as user.rig.* keys, and back; other keys are not rig's", () => {
    const marks = marksOf({ 'io.rig.rig': 'shop', 'io.rig.role': 'node' });
    expect(marks).toEqual({ 'user.rig.rig': 'shop', 'user.rig.role': 'node' });
    expect(labelsOf({ ...marks, 'user.other': 'x', 'volatile.eth0.hwaddr': 'y' })).toEqual({ 'io.rig.rig': 'shop', 'io.rig.role': 'node' });
    expect(isRigs(marks, 'shop')).toBe(true);
    expect(isRigs(marks, 'shop2')).toBe(false);
    expect(isRigs({ 'user.other': 'shop' })).toBe(false);
    expect(() => marksOf({ 'com.docker.x': 'y' })).toThrow(/not one of rig's labels/);
  });
});

describe('LXD image metadata', () => {
  it('is a tarball tar reads, with the metadata.yaml LXD wants', async () => {
    const tarball = metadataTarball('rig base');
    const listed = await execa('tar', ['-tvf', '-'], { input: tarball });
    expect(listed.stdout).toMatch(/^-rw-r--r-- .*metadata\.yaml$/);
    const yaml = (await execa('tar', ['-xOf', '-', 'metadata.yaml'], { input: tarball })).stdout;
    expect(yaml).toMatch(/^architecture: \S+\ncreation_date: \d+\nproperties:\n {2}description: "rig base"$/);
  });
});

describe('LXD REST client', () => {
  it('says what LXD said when it refuses, with the request', async () => {
    const client = await fakeLxd((_req, res) => reply(res, 404, { type: 'error', error: 'Instance not found', error_code: 404 }));
    const err = await client.state('n1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LxdError);
    expect((err as LxdError).status).toBe(404);
    expect((err as LxdError).message).toBe('LXD GET /1.0/instances/n1/state: Instance not found (HTTP 404)');
    expect(await client.instance('n1')).toBeUndefined(); // not found is an answer where it can be
  });

  it('gives up on a request at its deadline, saying which LXD did not answer', async () => {
    const client = await fakeLxd(() => undefined); // never answers
    const err = (await client.server(200).catch((e: unknown) => e)) as LxdError;
    expect(err.message).toMatch(/^LXD GET \/1\.0: no answer before the deadline \(LXD at .*unix\.socket\)$/);
  });

  it("waits for an operation and says why it failed, in LXD's words", async () => {
    const waits: string[] = [];
    const client = await fakeLxd((req, res) => {
      if (req.method === 'POST')
        return reply(res, 202, { type: 'async', status_code: 100, operation: '/1.0/operations/op1?project=default', metadata: {} });
      waits.push(req.url!);
      reply(res, 200, {
        type: 'sync',
        status_code: 200,
        metadata: { id: 'op1', status: 'Failure', status_code: 400, err: 'Failed creating instance: no space' },
      });
    });
    const err = (await client.createInstance({ name: 'n1', alias: 'base' }, 5000).catch((e: unknown) => e)) as LxdError;
    expect(err.message).toContain('create instance n1: Failed creating instance: no space');
    expect(waits).toEqual(['/1.0/operations/op1/wait?timeout=5']);
  });

  it('cancels an operation still running at its deadline, and says so', async () => {
    const seen: string[] = [];
    const client = await fakeLxd((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const running = { id: 'op2', status: 'Running', status_code: 103, err: '', may_cancel: true };
      reply(res, 200, { type: 'sync', status_code: 200, metadata: running });
    });
    const err = (await client.wait('/1.0/operations/op2', 'start instance n1', 100).catch((e: unknown) => e)) as LxdError;
    expect(err.message).toContain('start instance n1: not done in 0.1 s (LXD says: Running)');
    expect(seen).toContain('DELETE /1.0/operations/op2');
  });
});

describe('LXD websocket', () => {
  it('reads fragmented, long and binary messages, answers pings (masked, as a client must), and ends on close', async () => {
    const fromClient: Buffer[] = [];
    const client = await fakeLxd(
      (_req, res) => reply(res, 400, {}),
      (req, socket) => {
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
        );
        // The rest only once the pong is in (2 bytes of header, 4 of mask, 1 of payload): pings are answered.
        socket.on('data', (d: Buffer) => {
          fromClient.push(d);
          if (Buffer.concat(fromClient).length !== 7) return;
          socket.write(frame(2, Buffer.alloc(70_000, 7)));
          socket.write(frame(8, Buffer.from([0x03, 0xe8])));
        });
        socket.write(Buffer.concat([frame(1, Buffer.from('hel'), false), frame(9, Buffer.from('p')), frame(0, Buffer.from('lo'))]));
      },
    );
    const messages: Array<[string, boolean]> = [];
    let closed!: () => void;
    const ended = new Promise<void>((resolve) => (closed = resolve));
    await LxdWebSocket.connect(client.transport, '/1.0/events', {
      onMessage: (data, text) => messages.push([text ? data.toString() : `${data.length} bytes of ${data[0]}`, text]),
      onClose: () => closed(),
    });
    await ended;
    expect(messages).toEqual([
      ['hello', true],
      ['70000 bytes of 7', false],
    ]);
    const sent = Buffer.concat(fromClient);
    expect(sent[0]).toBe(0x8a); // the pong first: FIN, opcode 10
    expect(sent[1]).toBe(0x80 | 1); // masked, as a client must, and one byte long
    expect(String.fromCharCode(sent[6] ^ sent[2])).toBe('p'); // the ping's payload, back
  });

  it('refuses a server whose upgrade answer is not for its key', async () => {
    const client = await fakeLxd(
      (_req, res) => reply(res, 400, {}),
      (_req, socket) =>
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n',
        ),
    );
    await expect(LxdWebSocket.connect(client.transport, '/1.0/events', { onMessage: () => undefined })).rejects.toThrow(
      /not the one for rig's key/,
    );
  });
});
