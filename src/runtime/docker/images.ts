import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import yaml from 'js-yaml';
import { errorMessage, ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { followStream, isNotFound } from './connect.js';
import { readImage } from './unpack.js';
import { BUILD_IMAGE, IMAGE_NAMES, type BuildUse, type BuiltImage, type ImageName, type Images } from '../images.js';
import type { BuildSpec } from '../../rigfile/types.js';
import { buildRef, buildUserImage } from './build.js';

export { IMAGE_NAMES, NODE_IMAGES, type BuiltImage, type ImageName } from '../images.js';

const PARENT: Record<ImageName, ImageName | undefined> = {
  base: undefined,
  sidecar: 'base',
  tools: 'sidecar',
  systemd: 'base',
  puppet: 'systemd',
};

export interface ImageOptions {
  imagesDir: string; // the repo's images/
  cacheDir: string; // where debootstrapped root filesystems are kept (LXC nodes start from them too)
  mirror: string; // Debian mirror for debootstrap and apt-get
}

interface BaseDefinition {
  suite: string;
  variant: string;
  include: string[];
}

/** Every file under dir, as sorted relative paths: an image definition is its whole directory. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

/**
 * Whether a tag is one rig gave: rig/<definition>:<hash> or rig-build/<name>:<hash>, with the hash its labels hold.
 * An image built by hand FROM one of rig's inherits its labels, not its tag: it is not rig's to list or prune.
 */
function isOwnTag(tag: string, labels: Record<string, string>): boolean {
  const [repo, hash] = tag.split(':');
  const image = labels[Label.image];
  const own = image === BUILD_IMAGE ? repo.startsWith('rig-build/') : repo === `rig/${image}`;
  return own && !!hash && hash === labels[Label.hash]?.slice(0, 12);
}

/** The io.rig.build label of a rig file's build; one that is not rig's JSON (written by hand) says nothing. */
function parseUse(label: string): BuildUse | undefined {
  try {
    const use = JSON.parse(label) as BuildUse;
    return typeof use.file === 'string' && Array.isArray(use.nodes) ? use : undefined;
  } catch {
    return undefined; // not rig's: the image is listed without what it was built for
  }
}

/** Progress worth showing: build steps and debootstrap's phases, not one line per package. */
const isMilestone = (line: string) =>
  /^Step \d+\/\d+/.test(line) || (/^I: /.test(line) && !/^I: (Retrieving|Validating|Extracting|Configuring|Unpacking) [a-z0-9]/.test(line));

/** Builds rig's images locally, with no registry, cached by a hash of their definitions. */
export class ImageBuilder implements Images {
  private readonly hashes = new Map<ImageName, string>();

  constructor(
    private readonly docker: Docker,
    private readonly options: ImageOptions,
  ) {}

  /** The tag of an image, e.g. rig/sidecar:3f2a9c1e0b4d. It changes whenever the definition or a parent's does. */
  ref(name: ImageName): string {
    return `rig/${name}:${this.hash(name).slice(0, 12)}`;
  }

  async isBuilt(name: ImageName): Promise<boolean> {
    try {
      await this.docker.getImage(this.ref(name)).inspect();
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** The images `names` need, parents first, that are not built yet (all of them with force). */
  async missing(names: readonly ImageName[], force = false): Promise<ImageName[]> {
    const wanted = new Set<ImageName>();
    for (const name of names) for (let n: ImageName | undefined = name; n; n = PARENT[n]) wanted.add(n);
    const ordered = IMAGE_NAMES.filter((n) => wanted.has(n));
    const built = await Promise.all(ordered.map((n) => (force ? false : this.isBuilt(n))));
    return ordered.filter((_, i) => !built[i]);
  }

  async build(name: ImageName, onLine: (line: string) => void = () => {}): Promise<void> {
    try {
      if (name === 'base') await this.buildBase(onLine);
      else await this.buildFromDockerfile(name, onLine);
    } catch (err) {
      if (err instanceof RigError) throw err;
      throw new RigError(
        `Building image ${this.ref(name)} from ${join(this.options.imagesDir, name)} failed: ${errorMessage(err)}`,
        `check that the Debian mirror ${this.options.mirror} is reachable (set RIG_DEBIAN_MIRROR to use another), then run: rig images build --force`,
        ExitCode.failed,
        { cause: err },
      );
    }
  }

  buildRef(build: BuildSpec): string {
    return buildRef(build, (name) => this.ref(name as ImageName));
  }

  buildImage(build: BuildSpec, use: BuildUse, onLine: (line: string) => void = () => {}): Promise<void> {
    return buildUserImage(this.docker, build, use, (name) => this.ref(name as ImageName), onLine);
  }

  /** Whether the Docker engine has this image (a user's own: no registry is ever asked). */
  exists(ref: string): Promise<boolean> {
    return this.docker
      .getImage(ref)
      .inspect()
      .then(
        () => true,
        () => false,
      );
  }

  /** Whether the image holds any of these files (looked into through a container made, never started). */
  hasFile(ref: string, paths: string[]): Promise<boolean> {
    return readImage(this.docker, ref, 'probe', async (probe) => {
      for (const path of paths) {
        const found = await probe.infoArchive({ path }).then(
          () => true,
          () => false,
        );
        if (found) return true;
      }
      return false;
    });
  }

  /** Where the base root filesystem is kept after a build (LXC nodes copy it). */
  rootfsDir(): string {
    return join(this.options.cacheDir, 'rootfs', this.hash('base').slice(0, 12));
  }

  private async buildBase(onLine: (line: string) => void): Promise<void> {
    const def = yaml.load(readFileSync(join(this.options.imagesDir, 'base', 'image.yaml'), 'utf8')) as BaseDefinition;
    const { execa } = await import('execa'); // loaded only to build: it is slow to load
    const rootfs = this.rootfsDir();
    if (!existsSync(join(rootfs, 'etc', 'os-release'))) {
      if (process.getuid?.() !== 0)
        throw new RigError(
          "debootstrap needs root to build rig's base image.",
          'run rig as root (e.g. sudo rig images build)',
          ExitCode.engineUnavailable,
        );
      const partial = `${rootfs}.partial-${process.pid}`; // two rigs building at once each use their own
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial, { recursive: true });
      const include = def.include?.length ? [`--include=${def.include.join(',')}`] : [];
      const run = execa('debootstrap', [`--variant=${def.variant}`, ...include, def.suite, partial, this.options.mirror], { all: true });
      run.all?.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(isMilestone).forEach(onLine));
      await run;
      try {
        renameSync(partial, rootfs);
      } catch (err) {
        if (!existsSync(join(rootfs, 'etc', 'os-release'))) throw err;
        rmSync(partial, { recursive: true, force: true }); // another rig finished the same build first
      }
    }
    onLine('importing the root filesystem into Docker');
    const tar = execa('tar', ['-C', rootfs, '-c', '.'], { buffer: false });
    const [repo, tag] = this.ref('base').split(':');
    const stream = await this.docker.importImage(
      tar.stdout as unknown as string,
      {
        repo,
        tag,
        changes: [`LABEL ${Label.image}=base ${Label.hash}=${this.hash('base')}`],
      } as object,
    );
    await followStream(this.docker, stream, onLine);
    await tar;
  }

  private async buildFromDockerfile(name: ImageName, onLine: (line: string) => void): Promise<void> {
    const dir = join(this.options.imagesDir, name);
    const stream = await this.docker.buildImage(
      { context: dir, src: filesUnder(dir) },
      {
        t: this.ref(name),
        buildargs: { BASE: this.ref(PARENT[name]!) },
        networkmode: 'host', // apt-get reaches the Debian mirror as the host does
        labels: { [Label.image]: name, [Label.hash]: this.hash(name) },
        rm: true,
        forcerm: true,
      },
    );
    await followStream(this.docker, stream, (line) => isMilestone(line) && onLine(line));
  }

  /** Every tagged image rig built (labelled io.rig.image), by whatever checkout of rig: untagged build layers left out. */
  async listBuilt(): Promise<BuiltImage[]> {
    const list = await this.docker.listImages({ filters: JSON.stringify({ label: [Label.image] }) });
    return list
      .map((i) => ({
        id: i.Id,
        refs: (i.RepoTags ?? []).filter((t) => isOwnTag(t, i.Labels ?? {})),
        image: i.Labels?.[Label.image] ?? '',
        ...(i.Labels?.[Label.build] && { build: parseUse(i.Labels[Label.build]) }),
        size: i.Size,
        created: new Date(i.Created * 1000).toISOString(),
      }))
      .filter((i) => i.refs.length);
  }

  /** The rigs whose containers (nodes, sidecars) were made from each image, by image ID. */
  async usersByImage(): Promise<Map<string, Set<string>>> {
    const containers = await this.docker.listContainers({ all: true, filters: JSON.stringify({ label: [Label.rig] }) });
    const users = new Map<string, Set<string>>();
    for (const c of containers) users.set(c.ImageID, (users.get(c.ImageID) ?? new Set()).add(c.Labels[Label.rig]));
    return users;
  }

  /** Remove one tag of an image rig built (the image goes with its last tag); never forced. */
  async removeRef(ref: string): Promise<void> {
    await this.docker.getImage(ref).remove();
  }

  private hash(name: ImageName): string {
    let hash = this.hashes.get(name);
    if (!hash) {
      const h = createHash('sha256');
      const parent = PARENT[name];
      h.update(parent ? this.hash(parent) : this.options.mirror);
      const dir = join(this.options.imagesDir, name);
      for (const file of filesUnder(dir)) {
        const path = join(dir, file);
        h.update(`\0${file}\0`)
          .update(readFileSync(path))
          .update(String(statSync(path).mode & 0o111));
      }
      hash = h.digest('hex');
      this.hashes.set(name, hash);
    }
    return hash;
  }
}
