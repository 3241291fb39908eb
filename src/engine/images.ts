import { loadRigFile } from '../rigfile/load.js';
import { BUILD_IMAGE, IMAGE_NAMES, type BuildUse, type BuiltImage, type ImageName } from '../runtime/images.js';
import type { Engine } from './context.js';

/** What each of rig's images is for. */
const PURPOSE: Record<ImageName, string> = {
  base: 'node image (rig:base): Debian from debootstrap, nothing installed',
  sidecar: "each rig's sidecar: dnsmasq and etcd",
  tools: "mounted in every node at /.rig: busybox and rig's agent",
  systemd: 'node image (rig:systemd): systemd and python3 (an Ansible target)',
  puppet: 'node image (rig:puppet): systemd, Puppet and Redis',
};

/** One tag of an image rig built, as `rig images` shows it. */
export interface ImageRow {
  ref: string;
  image: string; // the definition: base, sidecar, tools, systemd, puppet; build: a rig file's build:
  purpose: string;
  size: number; // bytes
  created: string;
  current: boolean; // rig's: this checkout's build of its definition; a build: the one its rig file asks for now (what `rig up` uses)
  usedBy: string[]; // the rigs with containers made from it
  for?: BuildUse; // a build: the rig file, nodes and context it was built for
}

/** rig's images on this host (this checkout's builds and older ones), and the images rig files built (build:). */
export async function listImages(engine: Engine): Promise<ImageRow[]> {
  const [built, users] = await Promise.all([engine.images.listBuilt(), engine.images.usersByImage()]);
  const current = new Set(IMAGE_NAMES.map((n) => engine.images.ref(n)));
  const files = new Set(built.flatMap((i) => (i.build ? [i.build.file] : [])));
  for (const file of files) for (const ref of askedFor(engine, file)) current.add(ref);
  return imageRows(built, users, current);
}

/** The tags of the builds a rig file asks for now; none if it is gone or does not load. */
function askedFor(engine: Engine, file: string): string[] {
  try {
    return loadRigFile(file).nodes.flatMap((n) => (n.build ? [engine.images.buildRef(n.build)] : []));
  } catch {
    return []; // a rig file gone or broken asks for nothing: its builds are older ones
  }
}

const purposeOf = (i: BuiltImage) =>
  i.image === BUILD_IMAGE
    ? `built from ${i.build?.context ?? 'a build context'}${i.build ? ` for ${i.build.nodes.join(', ')} of ${i.build.file}` : ''}`
    : (PURPOSE[i.image as ImageName] ?? 'built by rig');

export function imageRows(built: BuiltImage[], users: Map<string, Set<string>>, current: Set<string>): ImageRow[] {
  // rig's own in their order, then rig files' builds
  const order = (image: string) => (image === BUILD_IMAGE ? IMAGE_NAMES.length : (IMAGE_NAMES as readonly string[]).indexOf(image));
  return built
    .flatMap((i) =>
      i.refs.map((ref) => ({
        ref,
        image: i.image,
        purpose: purposeOf(i),
        size: i.size,
        created: i.created,
        current: current.has(ref),
        usedBy: [...(users.get(i.id) ?? [])].sort(),
        ...(i.build && { for: i.build }),
      })),
    )
    .sort((a, b) => Number(b.current) - Number(a.current) || order(a.image) - order(b.image) || b.created.localeCompare(a.created));
}

/**
 * What `rig images prune` removes: images rig built (rig's own and rig files' builds) that are not current (this
 * checkout's, or what their rig file asks for now) and that no rig's container uses.
 */
export const pruneable = (rows: ImageRow[]): ImageRow[] => rows.filter((r) => !r.current && !r.usedBy.length);
