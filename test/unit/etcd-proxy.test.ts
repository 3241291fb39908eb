import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etcdCommand, NODE_ETCD_LIMITS } from '../../src/plan/sidecar.js';

// rig-etcd-proxy (images/sidecar) checks every request a node sends the rig's etcd; its checks are pure functions of
// the request, run here with the machine's python3 (the sidecar runs Debian's 3.11, as the project's machines have).
const PROXY = resolve(import.meta.dirname, '../../images/sidecar/rig-etcd-proxy');

const DRIVER = `
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader('proxy', sys.argv[1])
proxy = importlib.util.module_from_spec(importlib.util.spec_from_loader('proxy', loader))
loader.exec_module(proxy)
limits = proxy.parse_args(['--listen=127.0.0.1:0'] + sys.argv[2:])[0]
out = []
for case in json.load(sys.stdin):
    try:
        if 'bucket' in case:
            bucket = proxy.Bucket(limits, 0.0)
            for at, charge in case['bucket']:
                bucket.take(charge, at, 'node n')
            out.append({'level': bucket.level})
            continue
        body, write = proxy.check_request(case['path'], case['body'].encode(), limits)
        out.append({'body': body.decode(), 'charge': write and write.charge,
                    'puts': write and {k.decode(): sorted(x.decode() for x in v) for k, v in write.puts.items()}})
    except proxy.Refused as refused:
        out.append({'status': refused.status, 'code': refused.code, 'message': refused.message})
print(json.dumps(out))
`;

type Outcome = {
  body?: string;
  charge?: number | null;
  puts?: Record<string, string[]> | null;
  status?: number;
  code?: number;
  message?: string;
  level?: number;
};

/** Run cases through the proxy's checks with the limits rig gives it (or others, as --name=value arguments). */
function check(cases: Array<{ path: string; body: string } | { bucket: Array<[number, number]> }>, args: string[] = []): Outcome[] {
  const command = etcdCommand({ addresses: { etcd: '10.0.0.3' } } as Parameters<typeof etcdCommand>[0]);
  const limits = command.slice(command.indexOf('rig-etcd-proxy') + 1).filter((a) => !/^--(listen|etcd)=/.test(a));
  const out = execFileSync('python3', ['-c', DRIVER, PROXY, ...limits, ...args], { input: JSON.stringify(cases) });
  return JSON.parse(out.toString()) as Outcome[];
}
const many = (cases: Array<[string, unknown]>) =>
  check(cases.map(([path, body]) => ({ path, body: typeof body === 'string' ? body : JSON.stringify(body) })));
const one = (path: string, body: unknown) => many([[path, body]])[0];

const b64 = (s: string) => Buffer.from(s).toString('base64');
const KEY = '/rig/r/nodes/a.t/facts/x';
const PREFIX = '/rig/r/nodes/a.t/';
const COST = NODE_ETCD_LIMITS.opCost;

describe('rig-etcd-proxy', () => {
  it('passes a put within the limits on, re-encoded, and charges its key and value plus one operation', () => {
    expect(one('/v3/kv/put', { key: b64(KEY), value: b64('hello') })).toEqual({
      body: `{"key":"${b64(KEY)}","value":"${b64('hello')}"}`,
      charge: COST + KEY.length + 5,
      puts: { [PREFIX]: [KEY] },
    });
  });

  it("reads a transaction's puts by either name (requestPut, request_put), sends them by one, and charges each", () => {
    const txn = {
      success: [{ requestPut: { key: b64(KEY), value: b64('v') } }],
      failure: [{ request_put: { key: b64(`${KEY}2`), value: b64('w') } }],
    };
    const out = one('/v3/kv/txn', txn);
    expect(JSON.parse(out.body!)).toEqual({
      success: [{ request_put: { key: b64(KEY), value: b64('v') } }],
      failure: [{ request_put: { key: b64(`${KEY}2`), value: b64('w') } }],
    });
    expect(out.charge).toBe(3 * COST + KEY.length + 1 + KEY.length + 1 + 1);
    expect(out.puts).toEqual({ [PREFIX]: [KEY, `${KEY}2`] });
  });

  it('refuses a value over the limit wherever it is, saying by how much', () => {
    const big = b64('v'.repeat(NODE_ETCD_LIMITS.maxValue + 1));
    const expected = {
      status: 413,
      code: 3,
      message: `the value of ${KEY} is ${NODE_ETCD_LIMITS.maxValue + 1} bytes, 1 over the ${NODE_ETCD_LIMITS.maxValue}-byte limit on a value`,
    };
    const [put, failure, compare, under] = many([
      ['/v3/kv/put', { key: b64(KEY), value: big }],
      ['/v3/kv/txn', { success: [], failure: [{ requestPut: { key: b64(KEY), value: big } }] }],
      ['/v3/kv/txn', { compare: [{ key: b64(KEY), target: 'VALUE', value: big }] }],
      ['/v3/kv/put', { key: b64(KEY), value: b64('v'.repeat(NODE_ETCD_LIMITS.maxValue)) }],
    ]);
    expect([put, failure, compare]).toEqual([expected, expected, expected]);
    expect(under.status).toBeUndefined();
  });

  it('refuses a key, or a whole request, over its limit', () => {
    const long = `${PREFIX}${'k'.repeat(NODE_ETCD_LIMITS.maxKey)}`;
    expect(one('/v3/kv/put', { key: b64(long), value: '' })).toMatchObject({
      status: 413,
      message: expect.stringContaining(
        `is ${long.length} bytes, ${long.length - NODE_ETCD_LIMITS.maxKey} over the ${NODE_ETCD_LIMITS.maxKey}-byte limit on a key`,
      ),
    });
    const [request] = check([{ path: '/v3/kv/range', body: ' '.repeat(101) }], ['--max-body=100']);
    expect(request).toEqual({ status: 413, code: 3, message: 'the request is 101 bytes, 1 over the 100-byte limit on a request' });
  });

  it('refuses what is not for nodes: compaction, lease calls but its own, maintenance, auth other than authenticate, other paths', () => {
    const cases: Array<[string, unknown]> = [
      ['/v3/kv/compaction', { revision: '2' }],
      ['/v3/lease/leases', {}],
      ['/v3/maintenance/defragment', {}],
      ['/v3/auth/user/add', { name: 'x', password: 'y' }],
      ['/v3beta/kv/put', { key: b64(KEY) }],
      ['/v3/kv/put', { key: b64(KEY), value: '', lease: '7' }],
      ...['prev_kv', 'prevKv', 'ignore_value', 'ignore_lease'].map((flag): [string, unknown] => [
        '/v3/kv/put',
        { key: b64(KEY), [flag]: true },
      ]),
      ['/v3/kv/txn', { success: [{ requestRange: { key: b64(KEY) } }] }],
      ['/v3/kv/txn', { success: [{ request_txn: {} }] }],
      ['/v3/watch', { cancel_request: { watch_id: '1' } }],
    ];
    const out = many(cases);
    expect(out.map((o) => [o.status, o.code])).toEqual(cases.map(() => [403, 7]));
    expect(out[0].message).toBe("nodes may not compact the rig's etcd (/v3/kv/compaction): rig keeps its history");
    expect(out[1].message).toBe('a node may only grant, keep alive and revoke its own lease, not /v3/lease/leases');
    expect(out[2].message).toBe('/v3/maintenance/defragment is for the host, not nodes');
    expect(out[5].message).toBe("a lease binds only the node's own alive key, not /rig/r/nodes/a.t/facts/x");
    expect(out[10].message).toContain('a range inside a transaction');
  });

  it('refuses what etcd could read otherwise than the proxy: a name twice, by both spellings, unknown fields, not JSON', () => {
    const out = many([
      ['/v3/kv/put', `{"key":"${b64(KEY)}","key":"${b64('/rig/r/nodes/b.t/x')}"}`],
      ['/v3/kv/txn', { success: [{ requestPut: { key: b64(KEY) }, request_put: { key: b64(KEY) } }] }],
      ['/v3/kv/deleterange', { key: b64(KEY), range_end: b64('x'), rangeEnd: b64('y') }],
      ['/v3/kv/put', { key: b64(KEY), value: '', extra: 1 }],
      ['/v3/kv/put', `{"key":NaN}`],
      ['/v3/kv/put', 'not json'],
      ['/v3/kv/put', { key: '%%%', value: '' }],
    ]);
    expect(out.map((o) => [o.status, o.code])).toEqual(out.map(() => [400, 3]));
    expect(out[0].message).toBe('the request has "key" twice');
    expect(out[3].message).toContain('"extra"');
    expect(out[6].message).toBe('put.key is not base64');
  });

  it('sends bytes on as standard base64, whichever base64 the node sent', () => {
    const key = Buffer.from([0xfb, 0xff, 0xfe]);
    expect(JSON.parse(one('/v3/kv/put', { key: key.toString('base64url'), value: '' }).body!).key).toBe(key.toString('base64'));
  });

  it('passes a range as it came and charges nothing; a watch re-encoded; a delete and a login charged', () => {
    const [range, watch, empty, deleted, login] = many([
      ['/v3/kv/range', `{"key": "${b64(KEY)}"}`],
      ['/v3/watch', { createRequest: { key: b64(KEY), startRevision: 5 } }],
      ['/v3/watch', {}],
      ['/v3/kv/deleterange', { key: b64(PREFIX), range_end: b64('/rig/r/nodes/a.t0') }],
      ['/v3/auth/authenticate', { name: 'a.t', password: 'p' }],
    ]);
    expect(range).toEqual({ body: `{"key": "${b64(KEY)}"}`, charge: null, puts: null });
    expect(watch).toEqual({ body: `{"create_request":{"key":"${b64(KEY)}","start_revision":"5"}}`, charge: null, puts: null });
    expect(empty).toMatchObject({ status: 400 });
    expect(deleted.charge).toBe(COST + PREFIX.length + PREFIX.length);
    expect(login.charge).toBe(COST);
  });

  it("keeps a node's budget as a token bucket: a burst, then its refill, and says by how much a write is over", () => {
    // Each case: [seconds, bytes] writes on a full bucket of 1000 bytes refilled at 10 a second.
    const writes: Array<Array<[number, number]>> = [
      [[0, 600]],
      [
        [0, 600],
        [1, 500],
      ],
      [
        [0, 600],
        [10, 500],
        [1000, 0],
      ],
    ];
    const [burst, over, refilled] = check(
      writes.map((bucket) => ({ bucket })),
      ['--budget=1000', '--refill=10'],
    );
    expect(burst).toEqual({ level: 400 });
    expect(over).toEqual({
      status: 429,
      code: 8,
      message:
        'node n is over its write budget: this write costs 500 bytes, 90 more than the 410 left of 1000 (refilled at 10 bytes/s: try again in 9 s)',
    });
    expect(refilled).toEqual({ level: 1000 }); // refilled, never past the budget
  });
});
