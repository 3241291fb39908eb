/**
 * The images rig builds itself, parents first. `base` comes from debootstrap; the others from a Dockerfile FROM
 * their parent. Node images among them can be named in a rig file as `image: rig:<name>` (e.g. rig:puppet).
 */
export const IMAGE_NAMES = ['base', 'sidecar', 'tools', 'systemd', 'puppet'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];
export const NODE_IMAGES: readonly ImageName[] = ['base', 'systemd', 'puppet'];

/** rig's own images as the engine uses them: built locally, each by a tag that changes with its definition. */
export interface Images {
  /** The tag of an image, e.g. rig/sidecar:3f2a9c1e0b4d. */
  ref(name: ImageName): string;
  /** The images `names` need, parents first, that are not built yet (all of them with `force`). */
  missing(names: readonly ImageName[], force?: boolean): Promise<ImageName[]>;
  /** Build one, its parents built already (`missing` lists them first); each line of progress to `onLine`. */
  build(name: ImageName, onLine?: (line: string) => void): Promise<void>;
  /** Whether the container engine has this image (a user's own, named in a rig file): no registry is ever asked. */
  exists(ref: string): Promise<boolean>;
  /** Whether the image holds any of these files (looked into, never run). */
  hasFile(ref: string, paths: string[]): Promise<boolean>;
}
