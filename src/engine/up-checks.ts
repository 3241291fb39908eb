import path from 'node:path';
import { ExitCode, RigError } from '../errors.js';
import { NODE_IMAGES, type ImageName } from '../runtime/images.js';
import { type Plan, type PlannedNode } from '../plan/plan.js';
import type { NodeSpec } from '../rigfile/types.js';
import type { Engine } from './context.js';
import { declarationOf } from '../runtime/kinds.js';
import { alreadyUp } from './taken-down.js';

/** Every container name the rig will take must be free; one taken by something else is bad input, not a crash later. */
export async function checkContainerNames(engine: Engine, plan: Plan, { sidecar = true } = {}): Promise<void> {
  const names = [
    ...(sidecar ? [plan.sidecar.container] : []),
    ...plan.nodes.filter((n) => declarationOf(n.spec.backend).namesInEngine).map((n) => n.container),
  ];
  const taken = await engine.rigs.containersNamed(names);
  if (!taken.length) return;
  if (taken.some((c) => c.rig === plan.name)) throw alreadyUp(plan.name);
  throw new RigError(
    `The container name${taken.length > 1 ? 's' : ''} ${taken.map((c) => c.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} taken by ${taken.length > 1 ? 'containers' : 'a container'} rig did not make for rig ${plan.name}.`,
    'remove or rename that container (docker rm NAME), or give the rig another name with --name',
    ExitCode.badInput,
  );
}

/** The image rig builds that a node runs (rig's base by default, rig:systemd for init: systemd), if it runs one. */
export function rigImageOf(spec: NodeSpec): ImageName | undefined {
  if (spec.build) return undefined;
  if (!spec.image) return spec.init === 'systemd' ? 'systemd' : 'base';
  return spec.image.startsWith('rig:') ? (spec.image.slice(4) as ImageName) : undefined;
}

/** A node's image: one rig builds (rigImageOf), else the user's own. */
export function nodeImage(engine: Engine, spec: NodeSpec): string {
  if (spec.build) return engine.images.buildRef(spec.build);
  const own = rigImageOf(spec);
  return own ? engine.images.ref(own) : spec.image!;
}

/**
 * Every node image named in the rig file exists: one of rig's own (rig:NAME), or one in the engine (no registry is
 * ever asked). Each node whose image is not is reported at its line in the rig file.
 */
export async function checkNodeImages(engine: Engine, plan: Plan): Promise<void> {
  const at = (n: PlannedNode) => `${plan.spec.file}:${n.spec.line}: node ${n.spec.name}`;
  const unknown = plan.nodes.filter(
    ({ spec: { image } }) => image?.startsWith('rig:') && !NODE_IMAGES.includes(image.slice(4) as ImageName),
  );
  if (unknown.length) {
    throw new RigError(
      `rig builds no such node image:\n${unknown.map((n) => `  ${at(n)}: image ${n.spec.image}`).join('\n')}`,
      `rig's node images: ${NODE_IMAGES.map((n) => `rig:${n}`).join(', ')}`,
      ExitCode.badInput,
    );
  }
  checkBuildBases(plan);
  const named = [...new Set(plan.nodes.map((n) => n.spec.image).filter((i): i is string => !!i && !i.startsWith('rig:')))];
  const missing = new Set<string>();
  await Promise.all(named.map(async (image) => (await engine.images.exists(image)) || missing.add(image)));
  if (missing.size) {
    const users = plan.nodes.filter((n) => missing.has(n.spec.image!));
    const what = missing.size > 1 ? `${missing.size} node images are` : `Node image ${[...missing][0]} is`;
    throw new RigError(
      `${what} not in the Docker engine, and rig uses no registry:\n${users.map((n) => `  ${at(n)}: image ${n.spec.image} not found`).join('\n')}`,
      `build or load the image${missing.size > 1 ? 's' : ''} first (docker build / docker load / docker import), or remove image: to use rig's own Debian base`,
      ExitCode.badInput,
    );
  }
  await checkSystemdImages(engine, plan);
}

/** rig's own images with systemd in them; a user's image is looked into (a container made, never started). */
const SYSTEMD_IMAGES: readonly ImageName[] = ['systemd', 'puppet'];

const SYSTEMD_PATHS = ['/usr/lib/systemd/systemd', '/lib/systemd/systemd'];

/** Whether the images of the plan's nodes with init: systemd have it; a build not built yet is looked into after its build. */
export async function checkSystemdImages(engine: Engine, plan: Plan): Promise<void> {
  const probed = new Map<string, Promise<boolean>>();
  const hasSystemd = (spec: NodeSpec): Promise<boolean> => {
    const own = rigImageOf(spec);
    if (own) return Promise.resolve(SYSTEMD_IMAGES.includes(own));
    const ref = nodeImage(engine, spec);
    let found = probed.get(ref);
    const probe = async () => (spec.build && !(await engine.images.exists(ref))) || engine.images.hasFile(ref, SYSTEMD_PATHS);
    if (!found) probed.set(ref, (found = probe()));
    return found;
  };
  for (const { spec } of plan.nodes.filter((n) => n.spec.init === 'systemd')) {
    if (await hasSystemd(spec)) continue;
    const image = spec.build
      ? `${nodeImage(engine, spec)} (built from ${path.join(spec.build.context, spec.build.dockerfile)})`
      : (spec.image ?? `rig:${rigImageOf(spec)}`);
    throw new RigError(
      `${plan.spec.file}:${spec.line}: node ${spec.name} has init: systemd, but its image ${image} has no systemd (${SYSTEMD_PATHS.join(' or ')}).`,
      'install systemd-sysv in the image (a build: FROM rig:systemd), use image: rig:systemd (or rig:puppet), or remove init: systemd',
      ExitCode.badInput,
    );
  }
}

/** Every FROM rig:NAME of a build names one of rig's node images; one that does not is reported at its Dockerfile's line. */
export function checkBuildBases(plan: Plan): void {
  const bad = plan.nodes.flatMap(({ spec }) =>
    (spec.build?.bases ?? [])
      .filter((b) => !NODE_IMAGES.includes(b.name as ImageName))
      .map((b) => `  ${path.join(spec.build!.context, spec.build!.dockerfile)}:${b.line}: FROM rig:${b.name} (node ${spec.name})`),
  );
  if (!bad.length) return;
  throw new RigError(
    `rig builds no such node image:\n${[...new Set(bad)].join('\n')}`,
    `rig's node images: ${NODE_IMAGES.map((n) => `rig:${n}`).join(', ')}`,
    ExitCode.badInput,
  );
}
