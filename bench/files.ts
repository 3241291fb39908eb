// The rig files and the compose file the bench writes.
import { range } from './util.js';

/** A rig of n nodes on the default (rig's own minimal Debian) image, internal, with no config trees. */
export function rigFile(name: string, n: number): string {
  return [
    `name: ${name}`,
    'domain: bench.test',
    'network:',
    '  internal: true',
    'configs: []',
    'nodes:',
    ...range(n).map((i) => `  n${i}.bench.test:`),
    '',
  ].join('\n');
}

/** A rig of n nodes on LXD: the same rig as rigFile's, with `backend: lxd`. */
export function lxdRigFile(name: string, n: number): string {
  return rigFile(name, n).replace('configs: []\n', 'configs: []\nbackend: lxd\n');
}

export interface FidelityVariant {
  init: 'rig' | 'systemd';
  mirrors: boolean;
}

/**
 * A rig file for the fidelity costs: n nodes of rig:systemd, with `init` as given, each mirroring a live node
 * (live names resolve to them) or none.
 */
export function fidelityRigFile(name: string, n: number, { init, mirrors }: FidelityVariant): string {
  return [
    `name: ${name}`,
    'domain: bench.test',
    `init: ${init}`,
    'image: rig:systemd',
    'network:',
    '  internal: true',
    'configs: []',
    'nodes:',
    ...range(n).map((i) => `  n${i}.bench.test:${mirrors ? ` live${i}.prod.example` : ''}`),
    '',
  ].join('\n');
}

/** The shell rig's one step and validate command (the bench runs them by hand too, with docker exec). */
export const SHELL_STEP = 'sed -n "s/^colour: //p" "hieradata/nodes/$RIG_NODE.yaml" > /tmp/colour';
export const SHELL_VALIDATE = 'test -s /tmp/colour';

/** A shell-provisioned rig of two nodes mirroring live1 and live2; the step reads the live node's hiera file. */
export function shellRigFile(name: string): string {
  return [
    `name: ${name}`,
    'domain: bench.test',
    'network:',
    '  internal: true',
    'provision:',
    '  - shell: |',
    `      ${SHELL_STEP}`,
    'validate:',
    `  - ${SHELL_VALIDATE}`,
    'nodes:',
    '  n1.bench.test: live1.prod.example',
    '  n2.bench.test: live2.prod.example',
    '',
  ].join('\n');
}

/** n services of one image on one internal network (JSON is YAML, so no YAML writer is needed). */
export function composeFile(n: number, image: string, runId: string): string {
  const services = Object.fromEntries(
    range(n).map((i) => [`n${i}`, { image, command: ['sleep', 'infinity'], networks: ['net'], labels: { 'io.rig.bench': runId } }]),
  );
  return (
    JSON.stringify({ version: '2.4', services, networks: { net: { internal: true, labels: { 'io.rig.bench': runId } } } }, null, 2) + '\n'
  );
}

/** The reaction benchmark's fixed work: a loop in the node's /bin/sh, about 0.1 s of CPU on this machine. */
export const REACTION_WORK = 'i=0; while [ $i -lt 50000 ]; do i=$((i + 1)); done';

/**
 * Two nodes: mill reacts to barn's stage and to each of `facts` of barn's facts with REACTION_WORK, one reaction a
 * fact so that no run meets the loop guard (a 6th run in 30 s stops a reaction). The stage reaction's step takes
 * 2 s (the kill benchmark times its start, not its end) so that the burst of stages a restarted barn writes is
 * coalesced into one run or two, not one each.
 */
export function reactionRigFile(name: string, facts: string[]): string {
  return [
    `name: ${name}`,
    'domain: bench.test',
    'network:',
    '  internal: true',
    'configs: []',
    'nodes:',
    '  barn.bench.test:',
    '  mill.bench.test:',
    '    on:',
    '      - stage: barn',
    "        run: [{ shell: 'sleep 2' }]",
    ...facts.flatMap((fact) => [`      - change: barn.${fact}`, `        run: [{ shell: '${REACTION_WORK}' }]`]),
    '',
  ].join('\n');
}
