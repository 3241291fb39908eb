import { describe, expect, it } from 'vitest';
import { imageRows, pruneable, storedRows } from '../../src/engine/images.js';

describe('rig images', () => {
  const built = [
    { id: 'sha256:a', refs: ['rig/systemd:old111111111'], image: 'systemd', size: 3e8, created: '2026-12-01T00:00:00.000Z' },
    { id: 'sha256:b', refs: ['rig/systemd:new222222222'], image: 'systemd', size: 3.5e8, created: '2026-12-07T00:00:00.000Z' },
    { id: 'sha256:c', refs: ['rig/base:old333333333'], image: 'base', size: 1e8, created: '2026-12-01T00:00:00.000Z' },
    { id: 'sha256:d', refs: ['rig/base:new444444444'], image: 'base', size: 1e8, created: '2026-12-07T00:00:00.000Z' },
  ];
  const users = new Map([['sha256:a', new Set(['village', 'shop'])]]);
  const rows = imageRows(built, users, new Set(['rig/systemd:new222222222', 'rig/base:new444444444']));

  it("lists this checkout's builds first, parents first, with what each is for and the rigs that use it", () => {
    expect(rows.map((r) => [r.ref, r.current, r.usedBy])).toEqual([
      ['rig/base:new444444444', true, []],
      ['rig/systemd:new222222222', true, []],
      ['rig/base:old333333333', false, []],
      ['rig/systemd:old111111111', false, ['shop', 'village']],
    ]);
    expect(rows[1].purpose).toContain('python3');
  });

  it('prunes only older builds that no rig uses', () => {
    expect(pruneable(rows).map((r) => r.ref)).toEqual(['rig/base:old333333333']);
  });

  it("lists rig files' builds after rig's own, with what each was built for; prunes those neither asked for nor in use", () => {
    const use = { file: '/r/rig.yaml', nodes: ['web.x.test'], context: '/r/web' };
    const builds = [
      { id: 'sha256:e', refs: ['rig-build/web:old555555555'], image: 'build', size: 1e8, created: '2026-12-01T00:00:00.000Z', build: use },
      { id: 'sha256:f', refs: ['rig-build/web:new666666666'], image: 'build', size: 1e8, created: '2026-12-07T00:00:00.000Z', build: use },
      { id: 'sha256:g', refs: ['rig-build/web:run777777777'], image: 'build', size: 1e8, created: '2026-12-02T00:00:00.000Z', build: use },
    ];
    const all = imageRows(
      [...built, ...builds],
      new Map([['sha256:g', new Set(['web'])]]),
      new Set(['rig/base:new444444444', 'rig-build/web:new666666666']),
    );
    expect(all.map((r) => [r.ref, r.current])).toEqual([
      ['rig/base:new444444444', true],
      ['rig-build/web:new666666666', true],
      ['rig/base:old333333333', false],
      ['rig/systemd:new222222222', false],
      ['rig/systemd:old111111111', false],
      ['rig-build/web:run777777777', false],
      ['rig-build/web:old555555555', false],
    ]);
    expect(all[1].for).toEqual(use);
    expect(all[1].purpose).toBe('built from /r/web for web.x.test of /r/rig.yaml');
    expect(pruneable(all).map((r) => r.ref)).not.toContain('rig-build/web:run777777777');
    expect(pruneable(all).map((r) => r.ref)).toContain('rig-build/web:old555555555');
    expect(pruneable(all).map((r) => r.ref)).not.toContain('rig-build/web:new666666666');
  });

  it("lists a backend's imports by what they were made from: current with it, pruned when neither current nor in use", () => {
    const stored = [
      { ref: 'rig-base-old333333333', source: 'rig/base:old333333333', size: 2e8, created: '2026-12-01T00:00:00.000Z', usedBy: [] },
      { ref: 'rig-base-new444444444', source: 'rig/base:new444444444', size: 2e8, created: '2026-12-07T00:00:00.000Z', usedBy: [] },
      { ref: 'rig-image-0123456789ab', source: 'my/node', size: 1e8, created: '2026-12-06T00:00:00.000Z', usedBy: ['shop'] },
      { ref: 'rig-image-ba9876543210', source: 'my/old', size: 1e8, created: '2026-12-05T00:00:00.000Z', usedBy: [] },
    ];
    const lxd = storedRows('lxd', stored, new Set(['rig/base:new444444444']));
    expect(lxd.map((r) => [r.ref, r.store, r.image, r.current, r.usedBy])).toEqual([
      ['rig-base-new444444444', 'lxd', 'base', true, []],
      ['rig-image-0123456789ab', 'lxd', 'image', false, ['shop']],
      ['rig-image-ba9876543210', 'lxd', 'image', false, []],
      ['rig-base-old333333333', 'lxd', 'base', false, []],
    ]);
    expect(lxd[0].purpose).toBe('rig:base, imported into lxd');
    expect(lxd[1].purpose).toBe('the image my/node, imported into lxd');
    expect(pruneable(lxd).map((r) => r.ref)).toEqual(['rig-image-ba9876543210', 'rig-base-old333333333']);
    expect(rows.every((r) => r.store === 'docker')).toBe(true);
  });
});
