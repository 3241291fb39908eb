import { describe, expect, it } from 'vitest';
import { LOST, seenStage } from '../../src/facts/store.js';

// A node's stage as rig status shows it: its agent's alive key (bound to its etcd lease) gone means lost.
describe('seenStage', () => {
  it('reads a node whose agent published a stage but whose alive key is gone as lost', () => {
    expect(seenStage({ stage: 'ready', facts: {}, alive: true })).toBe('ready');
    expect(seenStage({ stage: 'ready', facts: {} })).toBe(LOST);
    expect(seenStage({ stage: 'provisioning 1/2', facts: {} })).toBe(LOST);
    expect(seenStage({ stage: 'reacting to barn.x (1/1)', facts: {}, alive: false })).toBe(LOST);
  });

  it('keeps what the host wrote before the node came (created), a failure, and no stage as they are', () => {
    expect(seenStage({ stage: 'created', facts: {} })).toBe('created');
    expect(seenStage({ stage: 'failed: step 1/1 (shell) exited 3', facts: {} })).toBe('failed: step 1/1 (shell) exited 3');
    expect(seenStage({ stage: 'failed (timeout): x', facts: {} })).toBe('failed (timeout): x');
    expect(seenStage({ facts: {} })).toBeUndefined();
  });
});
