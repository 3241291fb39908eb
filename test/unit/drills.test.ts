import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { drillsTable, impairmentScript, readImpairments, writeImpairments } from '../../src/runtime/impairments.js';
import { parseDelay, parseLoss } from '../../src/engine/link-drills.js';
import { eventEntry } from '../../src/facts/events.js';

describe('failure drills', () => {
  it("keeps a rig network's drills in a table beside its port guard", () => {
    expect(drillsTable('village', 'abcdef0123456789ff')).toBe('rig.village.abcdef012345.drills');
  });

  it('cuts a pair both ways, drops a share of what a port sends, and cuts a paused port both ways', () => {
    const script = impairmentScript('t', { cuts: [['ra', 'rb']], loss: new Map([['rc', 30]]), paused: new Set(['rd']) });
    expect(script).toContain('iifname "ra" oifname "rb" drop comment "cut ra rb"');
    expect(script).toContain('iifname "rb" oifname "ra" drop comment "cut ra rb"');
    expect(script).toContain('iifname "rc" numgen random mod 100 < 30 drop comment "loss rc 30"');
    expect(script).toContain('iifname "rd" drop comment "pause rd"');
    expect(script).toContain('oifname "rd" drop comment "pause rd"');
  });

  it('removes the table when nothing is cut or impaired', () => {
    expect(impairmentScript('t', { cuts: [], loss: new Map(), paused: new Set() }).trim().split('\n')).toEqual([
      'table bridge t',
      'delete table bridge t',
    ]);
  });

  it('reads back what it wrote, from the rules themselves (needs root and nftables)', async () => {
    const table = `rig.unit-drills-${process.pid}.0123456789ab.drills`;
    const state = { cuts: [['ra', 'rb']] as Array<[string, string]>, loss: new Map([['rc', 5]]), paused: new Set(['rd']) };
    try {
      await writeImpairments(table, state);
      expect(await readImpairments(table)).toEqual(state);
      await writeImpairments(table, { cuts: [], loss: new Map(), paused: new Set() });
      expect((await execa('nft', ['list', 'tables', 'bridge'])).stdout).not.toContain(table);
    } finally {
      await execa('nft', ['delete', 'table', 'bridge', table], { reject: false });
    }
  });

  it('takes --loss as a whole percent of 0 to 100 and --delay as a duration, and refuses anything else (exit 2)', () => {
    expect(parseLoss('5%')).toBe(5);
    expect(parseLoss('100')).toBe(100);
    expect(parseDelay('200ms')).toBe(200);
    expect(parseDelay('1s')).toBe(1000);
    for (const bad of ['150%', '-1%', '2.5%', 'x', '']) expect(() => parseLoss(bad), bad).toThrow(expect.objectContaining({ exitCode: 2 }));
    for (const bad of ['abc', '200', '5m', '-1ms']) expect(() => parseDelay(bad), bad).toThrow(expect.objectContaining({ exitCode: 2 }));
  });

  it('keys events by time, kind and a random tail, with the time and what was done in the value', () => {
    const at = new Date('2026-12-07T02:00:00.123Z');
    const { name, value } = eventEntry({ kind: 'kill', node: 'barn.village.test' }, at);
    expect(name).toMatch(/^events\/1796608800123-kill-[0-9a-f]{4}$/);
    expect(JSON.parse(value)).toEqual({ time: '2026-12-07T02:00:00.123Z', kind: 'kill', node: 'barn.village.test' });
  });
});
