import { relative } from 'node:path';
import { rigStatus, type RigStatus } from '../../engine/status.js';
import { createEngine } from '../engine.js';
import { table } from '../table.js';

/** A rig as `rig status` shows it, with its nodes counted instead of listed. */
export interface RigLine extends Omit<RigStatus, 'nodes'> {
  counts: { nodes: number; ready: number; failed: number };
}

const rigLine = ({ nodes, ...rig }: RigStatus): RigLine => ({
  ...rig,
  counts: {
    nodes: nodes.length,
    ready: nodes.filter((n) => n.stage === 'ready').length,
    failed: nodes.filter((n) => n.stage.startsWith('failed')).length,
  },
});

const age = (created: string | undefined, now = Date.now()) => {
  const seconds = created ? Math.max(0, Math.round((now - Date.parse(created)) / 1000)) : NaN;
  if (Number.isNaN(seconds)) return '';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return seconds < 172_800 ? `${Math.round(seconds / 3600)}h` : `${Math.round(seconds / 86_400)}d`;
};

/** rig ls: one line per rig that is up. */
export async function ls(flags: { json?: boolean }): Promise<void> {
  const rigs = (await rigStatus(await createEngine())).map(rigLine).sort((a, b) => a.name.localeCompare(b.name));
  if (flags.json) {
    console.log(JSON.stringify(rigs, null, 2));
    return;
  }
  if (!rigs.length) {
    console.log('No rig is up.');
    return;
  }
  const file = (f?: string) => (f ? (relative(process.cwd(), f).startsWith('..') ? f : relative(process.cwd(), f)) : '');
  console.log(
    table(
      ['NAME', 'NODES', 'READY', 'FAILED', 'SUBNET', 'RIG FILE', 'AGE'],
      rigs.map((r) => [
        r.name,
        String(r.counts.nodes),
        String(r.counts.ready),
        String(r.counts.failed),
        r.subnet,
        file(r.file) + (r.sidecar === 'running' ? '' : ` (sidecar ${r.sidecar})`),
        age(r.created),
      ]),
    ),
  );
}
