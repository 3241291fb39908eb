import { loadRigFile } from '../rigfile/load.js';
import { BUILD_IMAGE, IMAGE_NAMES, type BuildUse, type BuiltImage, type ImageName } from '../runtime/images.js';
import type { StoredImage } from '../runtime/backend.js';
import type { BackendKind } from '../runtime/kinds.js';
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
  store: BackendKind; // where it is: docker (the engine's images), or a backend's own store (lxd: LXD's, imported from one of Docker's)
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
  const stores = Object.values(engine.backends).flatMap((b) =>
    b.storedImages ? [b.storedImages().then((list) => ({ kind: b.kind, list }))] : [],
  );
  const [built, users, stored] = await Promise.all([engine.images.listBuilt(), engine.images.usersByImage(), Promise.all(stores)]);
  const current = new Set(IMAGE_NAMES.map((n) => engine.images.ref(n)));
  const files = new Set(built.flatMap((i) => (i.build ? [i.build.file] : [])));
  for (const file of files) for (const ref of askedFor(engine, file)) current.add(ref);
  return [...imageRows(built, users, current), ...stored.flatMap(({ kind, list }) => storedRows(kind, list, current))];
}

/** Remove one image `rig images` listed, from its store. */
export async function removeImage(engine: Engine, row: ImageRow): Promise<void> {
  if (row.store === 'docker') return engine.images.removeRef(row.ref);
  await engine.backends[row.store]?.removeStoredImage?.(row.ref);
}

/**
 * A backend's imports of the engine's images: current when what it was made from is (this checkout's build of
 * rig's own, or the build a rig file asks for now); an import of a rig file's `image:` is kept while a rig uses it.
 */
export function storedRows(store: BackendKind, stored: StoredImage[], current: Set<string>): ImageRow[] {
  return stored
    .map((s) => {
      const own = /^rig\/([a-z]+):/.exec(s.source)?.[1];
      const image =
        own && (IMAGE_NAMES as readonly string[]).includes(own) ? own : s.source.startsWith('rig-build/') ? BUILD_IMAGE : 'image';
      const made = image === 'image' ? `the image ${s.source}` : image === BUILD_IMAGE ? `a build, ${s.source}` : `rig:${image}`;
      return {
        ref: s.ref,
        store,
        image,
        purpose: `${made}, imported into ${store}`,
        size: s.size,
        created: s.created,
        current: current.has(s.source),
        usedBy: s.usedBy,
      };
    })
    .sort((a, b) => Number(b.current) - Number(a.current) || b.created.localeCompare(a.created));
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
        store: 'docker' as const,
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
