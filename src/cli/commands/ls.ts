import { relative } from 'node:path';
import { rigStatus, type RigStatus } from '../../engine/status.js';
import { createEngine } from '../engine.js';
import { table } from '../table.js';

export interface RigLine {
  name: string;
  nodes: number;
  ready: number;
  failed: number;
  subnet: string;
  file?: string;
  created?: string;
  sidecar: string;
}

const rigLine = (r: RigStatus): RigLine => ({
  name: r.rig,
  nodes: r.nodes.length,
  ready: r.nodes.filter((n) => n.state === 'ready').length,
  failed: r.nodes.filter((n) => n.state.startsWith('failed')).length,
  subnet: r.subnet,
  file: r.file,
  created: r.created,
  sidecar: r.sidecar,
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
        String(r.nodes),
        String(r.ready),
        String(r.failed),
        r.subnet,
        file(r.file) + (r.sidecar === 'running' ? '' : ` (sidecar ${r.sidecar})`),
        age(r.created),
      ]),
    ),
  );
}
