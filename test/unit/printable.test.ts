import { describe, expect, it } from 'vitest';
import { printable, printableLines } from '../../src/printable.js';
import { table } from '../../src/cli/table.js';

describe('printable', () => {
  it('shows controls, separators and bidi characters as escapes, and leaves other text alone', () => {
    expect(printable('a\x1b[2J\x07\x7f\x9b\u2028\u202e\u2066 é ✓')).toBe(String.raw`a\x1b[2J\x07\x7f\x9b\u2028\u202e\u2066 é ✓`);
    expect(printable('one\ntwo\tthree\r')).toBe(String.raw`one\ntwo\tthree\r`);
  });

  it('keeps newlines and tabs in blocks of text', () => {
    expect(printableLines('one\n\ttwo\x1b]0;x\x07')).toBe('one\n\ttwo' + String.raw`\x1b]0;x\x07`);
  });

  it('pads table columns by the escaped text, styles after padding', () => {
    const out = table(
      ['A', 'B'],
      [
        ['\x1b', { text: 'x', style: (s) => `<${s}>` }],
        ['bb', 'y'],
      ],
    );
    expect(out.split('\n').slice(1)).toEqual([String.raw`\x1b  <x>`, 'bb    y']);
  });
});
