import { describe, expect, it } from 'vitest';
import { outputSchemas, schemaErrors } from '../schemas.js';
import { parseRigFile } from '../../src/rigfile/load.js';
import { planRig, summarizePlan } from '../../src/plan/plan.js';

describe('the JSON Schemas of the --json outputs (schema/)', () => {
  it('compile, one per command output, with the shared vocabulary in common', () => {
    expect(outputSchemas).toEqual(
      expect.arrayContaining([
        'common',
        'status',
        'ls',
        'inventory',
        'fact',
        'facts',
        'test',
        'provision',
        'update',
        'down',
        'up-dry-run',
        'stderr',
        'trace',
        'images-list',
      ]),
    );
    for (const name of outputSchemas) expect(() => schemaErrors(name, null)).not.toThrow();
  });

  it('hold a plan of up --dry-run to its shape, and refuse the old names', () => {
    const text = 'name: s\ndomain: v.test\nconfigs: []\nnodes:\n  a.v.test:\n  b.v.test: { needs: [a] }\n';
    const plan = { ...summarizePlan(planRig(parseRigFile(text, '/work/rigs/s.yaml'))), up: false, action: 'create' };
    expect(schemaErrors('up-dry-run', JSON.parse(JSON.stringify(plan)))).toEqual([]);
    const old = { ...plan, nodes: plan.nodes.map(({ ip, ...n }) => ({ ...n, address: ip })) };
    expect(schemaErrors('up-dry-run', JSON.parse(JSON.stringify(old))).join('\n')).toContain('must NOT have additional properties');
    const updating = { ...plan, nodes: plan.nodes.map((n) => ({ ...n, update: ['true', { ansible: 'ansible/upgrade.yml' }] })) };
    expect(schemaErrors('up-dry-run', JSON.parse(JSON.stringify(updating)))).toEqual([]);
    const wrong = { ...plan, nodes: plan.nodes.map((n) => ({ ...n, update: [{ playbook: 'ansible/upgrade.yml' }] })) };
    expect(schemaErrors('up-dry-run', JSON.parse(JSON.stringify(wrong)))).not.toEqual([]);
  });

  it('hold rig images --json to its shape', () => {
    const row = {
      ref: 'rig/systemd:fe94f84d6857',
      store: 'docker',
      image: 'systemd',
      purpose: 'node image',
      size: 355e6,
      created: '2026-12-07T05:00:00.000Z',
      current: true,
      usedBy: ['village'],
    };
    expect(schemaErrors('images-list', [row])).toEqual([]);
    expect(schemaErrors('images-list', [{ ...row, usedBy: 'village' }])).not.toEqual([]);
    expect(schemaErrors('images-list', [{ ...row, ref: 'rig-systemd-fe94f84d6857', store: 'lxd' }])).toEqual([]);
    expect(schemaErrors('images-list', [{ ...row, store: 'podman' }])).not.toEqual([]);
  });

  it('refuse a status whose node says state instead of stage', () => {
    const rig = { name: 'r', subnet: '10.0.0.0/24', dns: '10.0.0.2', etcd: 'http://10.0.0.3:2379', sidecar: 'running', keeper: true };
    const node = { fqdn: 'a.v.test', name: 'a', ip: '10.0.0.17', backend: 'docker' };
    expect(schemaErrors('status', [{ ...rig, nodes: [{ ...node, stage: 'ready' }] }])).toEqual([]);
    expect(schemaErrors('status', [{ ...rig, nodes: [{ ...node, state: 'ready' }] }])).not.toEqual([]);
    expect(schemaErrors('ls', [{ ...rig, counts: { nodes: 1, ready: 1, failed: 0 } }])).toEqual([]);
    expect(schemaErrors('ls', [{ ...rig, nodes: 1 }])).not.toEqual([]);
  });
});
