import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Label } from '../../labels.js';
import type { ImageFiles } from '../runtime.js';
import type { LxdClient } from './api.js';
import { deleteImage, imageByAlias, images, importImage, metadataTarball } from './images.js';
import { labelsOf, marksOf } from './marks.js';
import type { StoredImage } from '../backend.js';
import { RigError } from '../../errors.js';

/**
 * A node image in LXD's image store: rig's base root filesystem (or another image's, unpacked as the LXC backend
 * unpacks it), tarred and imported once under an alias named by its hash, and reused while that alias is there.
 * Such images are shared by rigs, as Docker's images are: `down` leaves them; `rig images` lists them (by rig's
 * marks on them: no other image is looked at) and `rig images prune` removes those no rig uses.
 */

export interface NodeImageOptions {
  cacheDir: string;
  baseImage: string; // rig/base:<hash>
  baseRootfs: string; // its debootstrapped tree, as built
}

/** The alias of a node image: `rig-<name>-<hash>` from rig's own `rig/<name>:<hash>`, else from the image's id. */
export const aliasOf = (ref: string, id?: string) => ownAlias(ref) ?? `rig-image-${(id ?? '').replace(/^sha256:/, '').slice(0, 12)}`;

/** The alias of one of rig's own images (`rig/<name>:<hash>`), named by its tag alone; undefined for another image. */
const ownAlias = (ref: string) => {
  const own = /^rig\/([a-z0-9-]+):([0-9a-f]{12})$/.exec(ref);
  return own ? `rig-${own[1]}-${own[2]}` : undefined;
};

export class NodeImages {
  private readonly aliases = new Map<string, Promise<string>>();

  constructor(
    private readonly client: LxdClient,
    private readonly files: ImageFiles,
    private readonly options: NodeImageOptions,
  ) {}

  /** rig's images in LXD's store (marked io.rig.image), with the rigs whose instances were made from each. */
  async list(): Promise<StoredImage[]> {
    const [all, instances] = await Promise.all([images(this.client), this.client.rigInstances()]);
    return all.flatMap((i) => {
      const source = labelsOf(i.properties)[Label.image];
      const ref = i.aliases.find((a) => a.name.startsWith('rig-'))?.name;
      if (!source || !ref) return [];
      const users = instances.filter((n) => n.config?.['volatile.base_image'] === i.fingerprint).map((n) => labelsOf(n.config)[Label.rig]);
      return [{ ref, source, size: i.size, created: i.uploaded_at, usedBy: [...new Set(users)].sort() }];
    });
  }

  /** Remove one of rig's images by its alias; an image without rig's mark is refused, one gone counts as removed. */
  async remove(ref: string): Promise<void> {
    const image = (await images(this.client)).find((i) => i.aliases.some((a) => a.name === ref));
    if (!image) return;
    if (!labelsOf(image.properties)[Label.image])
      throw new RigError(`LXD's image ${ref} is not rig's.`, 'remove it yourself: lxc image delete ' + ref);
    await deleteImage(this.client, image.fingerprint);
  }

  /** Whether LXD's store has one of rig's own images (by its tag's alias: no Docker asked). */
  async has(image: string): Promise<boolean> {
    const alias = ownAlias(image);
    return !!alias && !!(await imageByAlias(this.client, alias));
  }

  /** The alias of the LXD image for a node image, imported first if LXD does not have it. */
  alias(image: string): Promise<string> {
    let alias = this.aliases.get(image);
    if (!alias) {
      alias = this.imported(image);
      alias.catch(() => this.aliases.delete(image)); // the next node tries again; this one reports it
      this.aliases.set(image, alias);
    }
    return alias;
  }

  private async imported(image: string): Promise<string> {
    const { baseImage, baseRootfs, cacheDir } = this.options;
    if (await this.has(image)) return ownAlias(image)!; // imported before: its tag names it, no Docker is asked
    const own = image === baseImage && existsSync(join(baseRootfs, 'etc', 'os-release'));
    const id = own ? undefined : await this.files.imageId(image);
    const alias = aliasOf(image, id);
    if (await imageByAlias(this.client, alias)) return alias;
    let rootfs = baseRootfs;
    if (!own) {
      rootfs = join(cacheDir, 'lxc-rootfs', id!.replace(/^sha256:/, '').slice(0, 12)); // the LXC backend's unpacked trees
      await this.files.unpack(image, rootfs);
      chmodSync(rootfs, 0o755); // a tree unpacked before the unpack made its root 0755 (docker/unpack.ts)
    }
    const work = join(cacheDir, 'lxd-import', `${alias}.${process.pid}`);
    mkdirSync(work, { recursive: true });
    try {
      const tarball = join(work, 'rootfs.tar');
      await tarTree(rootfs, tarball);
      await importImage(this.client, {
        rootfs: tarball,
        metadata: metadataTarball(`rig node image ${image}`),
        alias,
        properties: marksOf({ [Label.image]: image, [Label.hash]: alias }),
      }).catch(async (err: unknown) => {
        if (!(await imageByAlias(this.client, alias))) throw err; // else another rig imported it at the same time
      });
      return alias;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}

/** A plain tar of a directory's contents (owners as numbers: the tree's root-owned files stay root's in the node). */
function tarTree(dir: string, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['--numeric-owner', '--xattrs', '-C', dir, '-cf', file, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    tar.on('error', reject);
    tar.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new RigError(`tar of ${dir} for LXD failed: ${stderr.trim() || `exit ${code}`}`, 'see the message above')),
    );
  });
}
