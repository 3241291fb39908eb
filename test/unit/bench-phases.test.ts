import { describe, expect, it } from 'vitest';
import { rigPhases, stepEvents } from '../../bench/phases.js';
import { dhcpLog } from '../../bench/trace.js';

const t0 = Date.parse('2025-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(t0 + ms).toISOString();
const line = (ms: number, fields: Record<string, unknown>) => JSON.stringify({ time: at(ms), ...fields });

// `rig up --json`'s stderr for one node, with the sidecars started alongside it, and notes and a warning between
// the steps (no `step` field), as rig prints them.
const NODES = 'Start dnsmasq, etcd and 1 node';
const stderr = [
  line(300, { level: 'note', message: 'rig: reaper started' }),
  line(320, { step: 'Check the rig', status: 'started' }),
  line(340, { step: 'Check the rig', status: 'done' }),
  line(350, { step: 'Create the rig network', status: 'started' }),
  line(400, { step: 'Create the rig network', status: 'done' }),
  line(405, { level: 'warning', message: 'something to know', node: 'n1.bench.test' }),
  line(410, { step: NODES, status: 'started' }),
  line(410, { step: 'dnsmasq and etcd', status: 'started' }),
  line(410, { step: 'n1.bench.test', status: 'started' }),
  line(420, { step: 'n1.bench.test', output: 'created' }),
  line(1200, { step: 'dnsmasq and etcd', status: 'done' }),
  line(1400, { step: 'n1.bench.test', output: 'addressed' }),
  line(1450, { step: 'n1.bench.test', output: 'facts' }),
  line(1460, { step: 'n1.bench.test', output: 'ready' }),
  line(1460, { step: 'n1.bench.test', status: 'done' }),
  line(1461, { step: NODES, status: 'done' }),
  line(1470, { level: 'note', message: 'rig kept' }),
  'not JSON at all',
  '{ "truncated": ',
].join('\n');

describe('the bench reading rig up --json progress', () => {
  it('keeps the step events and leaves out notes, warnings and lines that are not JSON objects', () => {
    const events = stepEvents(stderr);
    expect(events).toHaveLength(14);
    expect(events.every((e) => typeof e.step === 'string')).toBe(true);
  });

  it('profiles an up whose progress holds note lines (no step): steps, then each node from the start of the nodes step', () => {
    const trace = {
      containers: { 'n1.bench.test': { create: t0 + 500, start: t0 + 900 }, sidecar: { create: t0 + 430, start: t0 + 700 } },
      dhcp: { n1: { discovers: 2, discover: t0 + 1000, ack: t0 + 1030, host: 'n1' } },
    };
    const p = rigPhases(stepEvents(stderr), trace, t0, t0 + 1500);
    expect(p).toMatchObject({ builtImages: false, cliStart: 320, check: 20, images: 0, network: 50, sidecars: 790, sidecarsStarted: 290 });
    expect(p).toMatchObject({ sidecarsReadyAt: 790, nodes: 1051, exit: 39, lastReadyAt: 1050, dhcpRetries: 1 });
    expect(p.perNode.map((n) => n.node)).toEqual(['n1.bench.test']);
    expect(p.perNode[0]).toMatchObject({
      createdSeenAt: 10,
      create: 90,
      start: 400,
      attach: 100,
      dhcp: 30,
      addressed: 370,
      facts: 50,
      ready: 10,
    });
    expect(p.node).toMatchObject({ createMedian: 90, createMax: 90, readyMedian: 10 });
  });

  it('profiles without a trace (Docker events or dnsmasq log unreadable)', () => {
    const p = rigPhases(stepEvents(stderr), null, t0, t0 + 1500);
    expect(p.perNode[0]).toMatchObject({ create: null, dhcp: null, facts: 50, discovers: null });
    expect(p.dhcpRetries).toBe(0);
  });

  it("reads each node's first discover and ack from dnsmasq's log, by host name, keeping Docker's sub-millisecond stamps", () => {
    const log = [
      '2025-01-01T00:00:01.000250000Z dnsmasq-dhcp[7]: 1234 DHCPDISCOVER(eth0) 02:42:0a:00:00:05',
      '2025-01-01T00:00:01.010000000Z dnsmasq-dhcp[7]: 1234 DHCPDISCOVER(eth0) 02:42:0a:00:00:05',
      '2025-01-01T00:00:01.030500000Z dnsmasq-dhcp[7]: 1234 DHCPACK(eth0) 10.0.0.5 02:42:0a:00:00:05 n1',
      '2025-01-01T00:00:01.040000000Z dnsmasq[7]: something else',
      '2025-01-01T00:00:01.050000000Z dnsmasq-dhcp[7]: 99 DHCPDISCOVER(eth0) 02:42:0a:00:00:06',
    ].join('\n');
    expect(dhcpLog(log)).toEqual({ n1: { discovers: 2, discover: t0 + 1000.25, ack: t0 + 1030.5, host: 'n1' } });
  });
});
