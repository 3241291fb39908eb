import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { LxdTransport } from './transport.js';

/**
 * The least of a WebSocket client (RFC 6455) LXD's streams need, over an HTTP upgrade: Node 20 has no WebSocket
 * client without a flag, and rig adds no dependency for it. Messages (text or binary, fragmented or not) come to
 * `onMessage`; pings are answered; `send` masks as a client must. No extensions (no compression) are asked for.
 */
export interface WebSocketHandlers {
  onMessage: (data: Buffer, text: boolean) => void;
  onClose?: (err?: Error) => void; // the stream ended: closed by LXD, by `close`, or broken (err)
}

const Op = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;
const MAX_MESSAGE = 64 * 1024 * 1024; // what LXD sends is events and a command's output: more in one message is a broken peer

export class LxdWebSocket {
  private buffered: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentText = false;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly handlers: WebSocketHandlers,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.end(err));
    socket.on('close', () => this.end());
  }

  /** Upgrade a GET of `path` to a websocket; resolves once LXD switched protocols, rejects with what it said if not. */
  static async connect(transport: LxdTransport, path: string, handlers: WebSocketHandlers, timeoutMs?: number): Promise<LxdWebSocket> {
    const key = randomBytes(16).toString('base64');
    const { socket, head, accept } = await transport.upgrade(path, key, timeoutMs);
    const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    if (accept !== expected) {
      socket.destroy();
      throw new Error(`LXD GET ${path}: the websocket upgrade's Sec-WebSocket-Accept is not the one for rig's key`);
    }
    socket.setNoDelay(true);
    const ws = new LxdWebSocket(socket, handlers);
    if (head.length) ws.receive(head);
    return ws;
  }

  send(data: Buffer | string): void {
    this.frame(typeof data === 'string' ? Op.text : Op.binary, typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** Say goodbye (a close frame) and end the connection. */
  close(): void {
    if (this.closed) return;
    this.frame(Op.close, Buffer.from([0x03, 0xe8])); // 1000: normal closure
    this.socket.end();
    this.end();
  }

  private frame(opcode: number, payload: Buffer): void {
    if (this.closed) return;
    const mask = randomBytes(4);
    const length = payload.length;
    const header =
      length < 126
        ? Buffer.from([0x80 | opcode, 0x80 | length])
        : length < 65536
          ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
          : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), bigEndian64(length)]);
    const masked = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) masked[i] = payload[i] ^ mask[i & 3];
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    for (;;) {
      const frame = parseFrame(this.buffered);
      if (!frame) return;
      if (frame === 'too big') return this.fail(new Error('LXD sent a websocket message over 64 MiB'));
      this.buffered = this.buffered.subarray(frame.size);
      this.handle(frame.fin, frame.opcode, frame.payload);
    }
  }

  private handle(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === Op.ping) return this.frame(Op.pong, payload);
    if (opcode === Op.pong) return;
    if (opcode === Op.close) {
      this.socket.end();
      return this.end();
    }
    if (opcode !== Op.continuation) {
      this.fragments = [];
      this.fragmentText = opcode === Op.text;
    }
    this.fragments.push(payload);
    if (this.fragments.reduce((size, f) => size + f.length, 0) > MAX_MESSAGE)
      return this.fail(new Error('LXD sent a websocket message over 64 MiB'));
    if (!fin) return;
    const message = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
    this.fragments = [];
    this.handlers.onMessage(message, this.fragmentText);
  }

  private fail(err: Error): void {
    this.socket.destroy();
    this.end(err);
  }

  private end(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose?.(err);
  }
}

/** One frame from the start of `buf` (a server's: not masked), or undefined if it has not all come yet. */
function parseFrame(buf: Buffer): { fin: boolean; opcode: number; payload: Buffer; size: number } | 'too big' | undefined {
  if (buf.length < 2) return undefined;
  const fin = (buf[0] & 0x80) !== 0;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let length = buf[1] & 0x7f;
  let at = 2;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = buf.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(MAX_MESSAGE)) return 'too big';
    length = Number(big);
    at = 10;
  }
  if (length > MAX_MESSAGE) return 'too big';
  const mask = masked ? buf.subarray(at, at + 4) : undefined;
  if (masked) at += 4;
  if (buf.length < at + length) return undefined;
  const payload = Buffer.from(buf.subarray(at, at + length));
  if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  return { fin, opcode, payload, size: at + length };
}

function bigEndian64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
