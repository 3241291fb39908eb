import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdClient, EtcdError, EtcdUnanswered, prefixEnd, type WatchEvent } from '../../src/facts/etcd.js';

// The client's side of etcd's JSON gateway, against a local server that answers as the gateway does (its shapes
// were read from etcd 3.4's gateway); the real etcd is in every e2e test.

const b64 = (s: string) => Buffer.from(s).toString('base64');
const header = (revision: number) => ({ cluster_id: '1', member_id: '2', revision: String(revision), raft_term: '2' });

type Handler = (path: string, body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse) => void;
let server: Server | undefined;
let client: EtcdClient | undefined;

async function gateway(handle: Handler): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => handle(req.url ?? '', JSON.parse(body || '{}') as Record<string, unknown>, req, res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const answer = (res: ServerResponse, status: number, body: object) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

afterEach(async () => {
  client?.close();
  client = undefined;
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

describe('etcd client', () => {
  it('ends a prefix range one byte up, as etcd does', () => {
    expect(Buffer.from(prefixEnd('/rig/a/'), 'base64').toString()).toBe('/rig/a0');
    expect(Buffer.from(prefixEnd('/é'), 'base64')).toEqual(Buffer.from([0x2f, 0xc3, 0xaa]));
  });

  it('logs in once, sends its token, and logs in again when etcd forgets it', async () => {
    const tokens: string[] = [];
    let logins = 0;
    const url = await gateway((path, body, req, res) => {
      if (path === '/v3/auth/authenticate') return answer(res, 200, { header: header(1), token: `t${++logins}` });
      tokens.push(String(req.headers.authorization));
      if (tokens.length === 2)
        return answer(res, 401, { error: 'etcdserver: invalid auth token', message: 'etcdserver: invalid auth token', code: 16 });
      answer(res, 200, { header: header(5), kvs: [{ key: b64('/k'), value: b64('v'), mod_revision: '5' }] });
    });
    client = new EtcdClient(url, { name: 'root', password: 'secret' });
    expect(await client.get('/k')).toBe('v');
    expect(await client.get('/k')).toBe('v');
    expect(tokens).toEqual(['t1', 't1', 't2']);
  });

  it("says etcd's own error, with its code, and tells a missing answer apart", async () => {
    const url = await gateway((_path, _body, _req, res) =>
      answer(res, 412, { error: 'etcdserver: user name not found', message: 'etcdserver: user name not found', code: 9 }),
    );
    client = new EtcdClient(url);
    const refused = await client.call('/v3/auth/user/delete', { name: 'x' }).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(EtcdError);
    expect(refused).toMatchObject({ code: 9, message: 'etcdserver: user name not found' });
    const closed = new EtcdClient('http://127.0.0.1:1'); // nothing listens there
    await expect(closed.get('/k')).rejects.toBeInstanceOf(EtcdUnanswered);
    closed.close();
  });

  it('follows a watch split anywhere in its stream, and takes it up again after the last revision seen when cut', async () => {
    const requests: Array<Record<string, unknown>> = [];
    const url = await gateway((path, body, _req, res) => {
      if (path !== '/v3/watch') return answer(res, 404, {});
      requests.push(body.create_request as Record<string, unknown>);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const created = JSON.stringify({ result: { header: header(7), created: true } }) + '\n';
      if (requests.length === 1) {
        const put = JSON.stringify({
          result: { header: header(8), events: [{ kv: { key: b64('/rig/a/x'), value: b64('1'), mod_revision: '8' } }] },
        });
        const del = JSON.stringify({
          result: { header: header(9), events: [{ type: 'DELETE', kv: { key: b64('/rig/a/x'), mod_revision: '9' } }] },
        });
        const stream = `${created}${put}\n${del}\n`;
        res.write(stream.slice(0, 40));
        setTimeout(() => res.write(stream.slice(40, 130)), 10);
        setTimeout(() => res.write(stream.slice(130)), 20);
        setTimeout(() => res.destroy(), 40); // etcd restarted
      } else {
        res.write(created);
        const put = JSON.stringify({
          result: { header: header(12), events: [{ kv: { key: b64('/rig/a/y'), value: b64('2'), mod_revision: '12' } }] },
        });
        res.write(`${put}\n`);
      }
    });
    client = new EtcdClient(url);
    const events: WatchEvent[] = [];
    const seen = new Promise<void>((resolve) => {
      void client!.watch('/rig/a/', (e) => (events.push(e), events.length === 3 && resolve()), { prefix: true });
    });
    await seen;
    expect(events.map((e) => [e.type, e.key, e.value])).toEqual([
      ['put', '/rig/a/x', '1'],
      ['delete', '/rig/a/x', ''],
      ['put', '/rig/a/y', '2'],
    ]);
    expect(requests[0]).toEqual({ key: b64('/rig/a/'), range_end: b64('/rig/a0') });
    expect(requests[1]).toMatchObject({ start_revision: '10' });
  });

  it('rejects a watch etcd refuses', async () => {
    const url = await gateway((_path, _body, _req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ result: { header: header(3), created: true, canceled: true, cancel_reason: 'permission denied' } }) + '\n');
    });
    client = new EtcdClient(url);
    await expect(client.watch('/rig/b/', () => {})).rejects.toThrow('permission denied');
  });

  it('gives up on a cut watch whose etcd stays gone, and says so, after its bound; one that comes back in time goes on', async () => {
    let watches = 0;
    let refuse = true;
    const url = await gateway((_path, _body, _req, res) => {
      watches++;
      if (watches > 1 && refuse) return res.destroy(); // etcd is gone: every new watch is cut at once
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(JSON.stringify({ result: { header: header(3), created: true } }) + '\n');
      setTimeout(() => res.destroy(), 20);
    });
    client = new EtcdClient(url);
    const started = Date.now();
    const gone = await new Promise<Error>((resolve) => void client!.watch('/rig/c/', () => {}, { onGone: resolve, giveUpMs: 600 }));
    expect(gone).toBeInstanceOf(EtcdUnanswered);
    expect(gone.message).toMatch(/did not answer for 1 s; the watch of \/rig\/c\/ stopped/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    const tries = watches;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(watches).toBe(tries); // stopped: no more tries

    watches = 0;
    refuse = false; // cut every 20 ms, but back at once: never gives up
    const second = new EtcdClient(url);
    let gaveUp = false;
    await second.watch('/rig/c/', () => {}, { onGone: () => (gaveUp = true), giveUpMs: 600 });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    second.close();
    expect(gaveUp).toBe(false);
    expect(watches).toBeGreaterThan(2);
  });
});
