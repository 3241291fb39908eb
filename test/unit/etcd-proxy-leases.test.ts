import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// rig-etcd-proxy's lease rules (images/sidecar): etcd 3.4 lets any user grant, keep alive and revoke any lease, so
// the proxy holds each node (source address) to one lease of its own, bound only to its own `alive` key. The checks
// of a request and the table of leases are pure; they run here with the machine's python3, calls in order.
const PROXY = resolve(import.meta.dirname, '../../images/sidecar/rig-etcd-proxy');

const DRIVER = `
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader('proxy', sys.argv[1])
proxy = importlib.util.module_from_spec(importlib.util.spec_from_loader('proxy', loader))
loader.exec_module(proxy)
limits = proxy.parse_args(['--listen=127.0.0.1:0'])[0]
leases = proxy.Leases(limits)
out = []
for step in json.load(sys.stdin):
    op, address, now = step['op'], step.get('from', '10.0.0.5'), step.get('at', 0.0)
    try:
        if op == 'request':
            body, write = proxy.check_request(step['path'], json.dumps(step['body']).encode(), limits)
            out.append({'leased': write.leased, 'call': write.lease_call and list(write.lease_call), 'charge': write.charge})
        elif op == 'grant':
            old = leases.replaced(address, now)
            if old:
                leases.revoked(address, old)
            leases.granted(address, step['id'], step['ttl'], now)
            out.append(f'ok, replaces {old}' if old else 'ok')
        elif op == 'keepalive':
            leases.check_keepalive(address, step['id'], now)
            leases.kept(address, step['id'], step.get('ttl', 3), now)
            out.append('ok')
        elif op == 'bind':
            leases.check_own(address, step['id'], now, 'bind to its alive key')
            out.append('ok')
        elif op == 'revoke':
            leases.check_own(address, step['id'], now, 'revoke')
            leases.revoked(address, step['id'])
            out.append('ok')
    except proxy.Refused as refused:
        out.append({'status': refused.status, 'code': refused.code, 'message': refused.message})
print(json.dumps(out))
`;

type Step = { op: string; from?: string; at?: number; id?: number; ttl?: number; path?: string; body?: unknown };
type Outcome = 'ok' | { status: number; code: number; message: string } | { leased: number[]; call: unknown[] | null; charge: number };

const run = (steps: Step[]): Outcome[] =>
  JSON.parse(execFileSync('python3', ['-c', DRIVER, PROXY], { input: JSON.stringify(steps) }).toString()) as Outcome[];
const b64 = (s: string) => Buffer.from(s).toString('base64');
const ALIVE = '/rig/r/nodes/a.t/alive';
const refusal = (o: Outcome) => (typeof o === 'object' && 'message' in o ? `${o.status} ${o.message}` : o);

describe("rig-etcd-proxy's leases", () => {
  it('passes a grant of a TTL within bounds, a keepalive and a revoke, each charged as one operation', () => {
    const [grant, keep, revoke] = run([
      { op: 'request', path: '/v3/lease/grant', body: { TTL: 3 } },
      { op: 'request', path: '/v3/lease/keepalive', body: { ID: '7587' } },
      { op: 'request', path: '/v3/lease/revoke', body: { ID: 7587 } },
    ]);
    expect(grant).toEqual({ leased: [], call: ['/v3/lease/grant', 0, 3], charge: 128 });
    expect(keep).toEqual({ leased: [], call: ['/v3/lease/keepalive', 7587, 0], charge: 128 });
    expect(revoke).toEqual({ leased: [], call: ['/v3/lease/revoke', 7587, 0], charge: 128 });
  });

  it('refuses a TTL out of bounds, a lease ID the node picks, and the lease calls that are not its own', () => {
    const out = run([
      { op: 'request', path: '/v3/lease/grant', body: { TTL: 1 } },
      { op: 'request', path: '/v3/lease/grant', body: { TTL: 61 } },
      { op: 'request', path: '/v3/lease/grant', body: { TTL: 5, ID: 42 } },
      { op: 'request', path: '/v3/lease/timetolive', body: { ID: 42 } },
      { op: 'request', path: '/v3/kv/lease/revoke', body: { ID: 42 } },
    ]).map(refusal);
    expect(out).toEqual([
      "400 a lease's TTL is 2 to 60 s, not 1",
      "400 a lease's TTL is 2 to 60 s, not 61",
      "403 a node may not choose its lease's ID",
      '403 a node may only grant, keep alive and revoke its own lease, not /v3/lease/timetolive',
      '403 a node may only grant, keep alive and revoke its own lease, not /v3/kv/lease/revoke',
    ]);
  });

  it("binds a lease only to a node's alive key, and puts that key only with a lease", () => {
    const out = run([
      { op: 'request', path: '/v3/kv/put', body: { key: b64(ALIVE), value: b64('1'), lease: '9' } },
      { op: 'request', path: '/v3/kv/put', body: { key: b64('/rig/r/nodes/a.t/facts/x'), lease: '9' } },
      { op: 'request', path: '/v3/kv/put', body: { key: b64(`${ALIVE}/x`), lease: '9' } },
      { op: 'request', path: '/v3/kv/put', body: { key: b64(ALIVE), value: b64('1') } },
      { op: 'request', path: '/v3/kv/txn', body: { success: [{ requestPut: { key: b64('/rig/r/kept'), lease: '9' } }] } },
    ]);
    expect(out[0]).toMatchObject({ leased: [9] });
    expect(out.slice(1).map(refusal)).toEqual([
      "403 a lease binds only the node's own alive key, not /rig/r/nodes/a.t/facts/x",
      "403 a lease binds only the node's own alive key, not /rig/r/nodes/a.t/alive/x",
      "403 /rig/r/nodes/a.t/alive is put only with the node's lease (it must go when the node does)",
      "403 a lease binds only the node's own alive key, not /rig/r/kept",
    ]);
  });

  it('holds a node to one lease: a grant while the first lives replaces it (revoked first), as a restarted node asks', () => {
    const out = run([
      { op: 'grant', id: 1, ttl: 3, at: 0 },
      { op: 'grant', id: 2, ttl: 3, at: 1 },
      { op: 'keepalive', id: 1, at: 1.5 },
      { op: 'grant', id: 3, ttl: 3, at: 4.5 },
      { op: 'revoke', id: 3, at: 5 },
      { op: 'grant', id: 4, ttl: 3, at: 5 },
    ]).map(refusal);
    expect(out).toEqual([
      'ok',
      'ok, replaces 1',
      "403 lease 1 is not this node's (10.0.0.5) to keep alive: its lease is 2",
      'ok', // 2 ran out at 4 s
      'ok',
      'ok',
    ]);
  });

  it("lets no node keep alive, bind or revoke another's lease, nor a lease it no longer holds", () => {
    const out = run([
      { op: 'grant', id: 1, ttl: 3, from: '10.0.0.5' },
      { op: 'grant', id: 2, ttl: 3, from: '10.0.0.6' },
      { op: 'keepalive', id: 1, from: '10.0.0.6', at: 1 },
      { op: 'bind', id: 1, from: '10.0.0.6', at: 1 },
      { op: 'revoke', id: 1, from: '10.0.0.6', at: 1 },
      { op: 'bind', id: 2, from: '10.0.0.6', at: 1 },
      { op: 'keepalive', id: 1, from: '10.0.0.5', at: 2 },
      { op: 'keepalive', id: 1, from: '10.0.0.5', at: 6 },
    ]).map(refusal);
    expect(out).toEqual([
      'ok',
      'ok',
      "403 lease 1 is not this node's (10.0.0.6) to keep alive: its lease is 2",
      "403 lease 1 is not this node's (10.0.0.6) to bind to its alive key: its lease is 2",
      "403 lease 1 is not this node's (10.0.0.6) to revoke: its lease is 2",
      'ok',
      'ok',
      "403 lease 1 is not this node's (10.0.0.5) to keep alive: it holds none (grant one)",
    ]);
  });

  it('takes at most a few keepalives a second from a node, and keeps the lease for its TTL from the last one', () => {
    const out = run([
      { op: 'grant', id: 1, ttl: 3, at: 0 },
      ...[0.1, 0.2, 0.3, 0.4, 0.5, 0.6].map((at) => ({ op: 'keepalive', id: 1, at })),
      { op: 'keepalive', id: 1, at: 1.2 },
      { op: 'bind', id: 1, at: 4.1 },
      { op: 'bind', id: 1, at: 4.3 },
    ]).map(refusal);
    expect(out).toEqual([
      'ok',
      ...['ok', 'ok', 'ok', 'ok', 'ok'],
      '429 this node (10.0.0.5) kept its lease alive 5 times in the last second, the most it may (5)',
      'ok',
      'ok',
      "403 lease 1 is not this node's (10.0.0.5) to bind to its alive key: it holds none (grant one)",
    ]);
  });
});
