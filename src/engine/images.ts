import { IMAGE_NAMES, type BuiltImage, type ImageName } from '../runtime/images.js';
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
  image: string; // the definition: base, sidecar, tools, systemd, puppet
  purpose: string;
  size: number; // bytes
  created: string;
  current: boolean; // this checkout's build of its definition (what `rig up` uses now)
  usedBy: string[]; // the rigs with containers made from it
}

/** rig's images on this host: this checkout's builds and older ones (other checkouts', earlier definitions). */
export async function listImages(engine: Engine): Promise<ImageRow[]> {
  const [built, users] = await Promise.all([engine.images.listBuilt(), engine.images.usersByImage()]);
  const current = new Set(IMAGE_NAMES.map((n) => engine.images.ref(n)));
  return imageRows(built, users, current);
}

export function imageRows(built: BuiltImage[], users: Map<string, Set<string>>, current: Set<string>): ImageRow[] {
  const order = (image: string) => (IMAGE_NAMES as readonly string[]).indexOf(image);
  return built
    .flatMap((i) =>
      i.refs.map((ref) => ({
        ref,
        image: i.image,
        purpose: PURPOSE[i.image as ImageName] ?? 'built by rig',
        size: i.size,
        created: i.created,
        current: current.has(ref),
        usedBy: [...(users.get(i.id) ?? [])].sort(),
      })),
    )
    .sort((a, b) => Number(b.current) - Number(a.current) || order(a.image) - order(b.image) || b.created.localeCompare(a.created));
}

/** What `rig images prune` removes: rig's images that are not this checkout's builds and that no rig's container uses. */
export const pruneable = (rows: ImageRow[]): ImageRow[] => rows.filter((r) => !r.current && !r.usedBy.length);
