import { describe, expect, it } from 'vitest';
import { guardTable, portGuardScript } from '../../src/runtime/port-guard.js';

describe('port guard', () => {
  const ports = [
    { hostInterface: 'rv0123456789ab', mac: '02:00:00:00:00:01', address: '10.213.0.16' },
    { hostInterface: 'rvba9876543210', mac: '02:00:00:00:00:02', address: '10.213.0.17' },
  ];

  it('names one table per rig network, so a losing up never replaces the winner', () => {
    expect(guardTable('village', 'abcdef0123456789ff')).toBe('rig.village.abcdef012345');
  });

  it('replaces the table whole, and holds each port to its own MAC and address', () => {
    const script = portGuardScript('rig.v.abcdef012345', ports);
    const lines = script.split('\n').map((l) => l.trim());
    expect(lines.slice(0, 2)).toEqual(['table bridge rig.v.abcdef012345', 'delete table bridge rig.v.abcdef012345']);
    expect(script).toContain('iifname vmap { "rv0123456789ab" : jump p0, "rvba9876543210" : jump p1 }');
    const p1 = script.slice(script.indexOf('chain p1 {'));
    expect(p1).toContain('ether saddr != 02:00:00:00:00:02 drop');
    expect(p1).toContain('arp saddr ip != { 10.213.0.17, 0.0.0.0 } drop');
    expect(p1).toContain('ip saddr 10.213.0.17 accept');
    expect(p1.trim().split('\n').at(-3)?.trim()).toBe('drop'); // anything else from the port: IPv6, VLANs, other types
    expect(script).not.toMatch(/p1 \{[^}]*10\.213\.0\.16/);
  });

  it('hooks both what nodes send their peers (forward) and the host (input)', () => {
    const script = portGuardScript('t', ports);
    expect(script).toMatch(/chain forward \{ type filter hook forward priority filter; policy accept; jump ports; \}/);
    expect(script).toMatch(/chain input \{ type filter hook input priority filter; policy accept; jump ports; \}/);
  });
});
