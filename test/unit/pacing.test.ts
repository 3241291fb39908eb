import { describe, expect, it } from 'vitest';
import { Pacer, scaledWaitMs } from '../../src/runtime/pacing.js';

/** A call that runs until `finish` is called, recording when it ran. */
function calls(log: string[]) {
  const open = new Map<string, () => void>();
  const call = (name: string) => () =>
    new Promise<string>((resolve) => {
      log.push(name);
      open.set(name, () => resolve(name));
    });
  const finish = async (name: string) => {
    open.get(name)!();
    await new Promise((r) => setImmediate(r)); // the next call takes its turn
  };
  return { call, finish };
}

describe('the engine pacer', () => {
  it('runs at most its limit at once, the others in order as turns free up, `first` ones ahead', async () => {
    const pacer = new Pacer(2);
    const log: string[] = [];
    const { call, finish } = calls(log);
    const done = [
      pacer.run(call('a')),
      pacer.run(call('b')),
      pacer.run(call('c')),
      pacer.run(call('d')),
      pacer.run(call('e'), { first: true }),
    ];
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a', 'b']);
    expect(pacer.load).toEqual({ running: 2, waiting: 3 });
    await finish('a');
    expect(log).toEqual(['a', 'b', 'e']); // the first one waiting took the turn
    await finish('b');
    await finish('e');
    expect(log).toEqual(['a', 'b', 'e', 'c', 'd']);
    await finish('c');
    await finish('d');
    expect(await Promise.all(done)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pacer.load).toEqual({ running: 0, waiting: 0 });
  });

  it('never makes a call whose signal aborted while it waited, and frees its turn for the next', async () => {
    const pacer = new Pacer(1);
    const log: string[] = [];
    const { call, finish } = calls(log);
    const stop = new AbortController();
    const first = pacer.run(call('a'));
    const dropped = pacer.run(call('b'), { signal: stop.signal }).catch((err: Error) => err.message);
    const next = pacer.run(call('c'));
    stop.abort(new Error('up was stopped'));
    await finish('a');
    expect(await dropped).toBe('up was stopped');
    expect(log).toEqual(['a', 'c']);
    await finish('c');
    expect(await Promise.all([first, next])).toEqual(['a', 'c']);
    await expect(pacer.run(call('d'), { signal: stop.signal })).rejects.toThrow('up was stopped'); // aborted before it asked
  });

  it('frees the turn of a call that fails', async () => {
    const pacer = new Pacer(1);
    await expect(pacer.run(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(await pacer.run(async () => 'next')).toBe('next');
  });

  it('lets waits on the engine grow with the number of nodes', () => {
    expect(scaledWaitMs(10_000, 0)).toBe(10_000);
    expect(scaledWaitMs(10_000, 200)).toBeGreaterThan(scaledWaitMs(10_000, 12));
  });
});
