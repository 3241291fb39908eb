import type { BuildSpec } from '../rigfile/types.js';
import type { Segment } from './kind.js';

/**
 * The images rig builds itself, parents first. `base` comes from debootstrap; the others from a Dockerfile FROM
 * their parent. Node images among them can be named in a rig file as `image: rig:<name>` (e.g. rig:puppet).
 */
export const IMAGE_NAMES = ['base', 'sidecar', 'tools', 'systemd', 'puppet'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];
export const NODE_IMAGES: readonly ImageName[] = ['base', 'systemd', 'puppet'];

/** A rig file's build (build:) and where it was asked for, kept on the image it makes (io.rig.build). */
export interface BuildUse {
  file: string; // the rig file
  nodes: string[]; // the nodes that run it
  context: string;
}

/** The io.rig.image label of the images rig files build (rig's own carry their definition's name). */
export const BUILD_IMAGE = 'build';

/** An image rig built, as the container engine lists it. */
export interface BuiltImage {
  id: string;
  refs: string[]; // its tags, e.g. rig/systemd:fe94f84d6857
  image: string; // the definition it was built from (its io.rig.image label): base, systemd..., or build (a rig file's)
  build?: BuildUse; // a rig file's build: what it was built for
  size: number; // bytes
  created: string;
}

/** rig's own images as the engine uses them: built locally, each by a tag that changes with its definition. */
export interface Images {
  /** The tag of an image, e.g. rig/sidecar:3f2a9c1e0b4d. */
  ref(name: ImageName): string;
  /**
   * The images `names` need, parents first, that are not built yet (all of them with `force`). For a rig on `segment`
   * LXD: none if LXD's store has each (imported by hash) and the tools are unpacked, so no Docker is asked.
   */
  missing(names: readonly ImageName[], force?: boolean, segment?: Segment): Promise<ImageName[]>;
  /** Build one, its parents built already (`missing` lists them first); each line of progress to `onLine`. */
  build(name: ImageName, onLine?: (line: string) => void): Promise<void>;
  /** The tag of a rig file's build, e.g. rig-build/web:3f2a9c1e0b4d: a hash of its context and of the rig images it is FROM. */
  buildRef(build: BuildSpec): string;
  /**
   * Build a rig file's image (build:), FROM rig:NAME lines resolved to rig's tags (those images built already), each
   * step to `onLine`; a failing build is a RigError with the end of its output.
   */
  buildImage(build: BuildSpec, use: BuildUse, onLine?: (line: string) => void): Promise<void>;
  /** Whether the container engine has this image (a user's own, named in a rig file): no registry is ever asked. */
  exists(ref: string): Promise<boolean>;
  /** Whether the image holds any of these files (looked into, never run). */
  hasFile(ref: string, paths: string[]): Promise<boolean>;
  /** Every tagged image rig built (labelled io.rig.image), by whatever checkout of rig. */
  listBuilt(): Promise<BuiltImage[]>;
  /** The rigs whose containers (nodes, sidecars) were made from each image, by image ID. */
  usersByImage(): Promise<Map<string, Set<string>>>;
  /** Remove one tag of an image rig built (the image goes with its last tag); never forced. */
  removeRef(ref: string): Promise<void>;
}
