import { onTestFinished } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A stand-in LXD on a Unix socket for one test (no LXD needed): `handle` answers each request; every request is
 * kept in `asked` ("GET /1.0/instances?recursion=1"). Its socket and directory go when the test ends.
 */
export async function standInLxd(handle: http.RequestListener): Promise<{ socket: string; dir: string; asked: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'rig-lxd-unit-'));
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    handle(req, res);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => sockets.add(s));
  const socket = join(dir, 'unix.socket');
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  onTestFinished(() => {
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { socket, dir, asked };
}

/** LXD's answer of a call that succeeds at once. */
export function lxdOk(res: http.ServerResponse, metadata: unknown): void {
  lxdSends(res, 200, { type: 'sync', status_code: 200, metadata });
}

/** An answer of LXD's as it is (an error, an operation started). */
export function lxdSends(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
