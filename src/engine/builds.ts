import path from 'node:path';
import { type BuildUse, type ImageName } from '../runtime/images.js';
import type { Plan } from '../plan/plan.js';
import type { BuildSpec } from '../rigfile/types.js';
import type { AbortableRun } from './abortable.js';
import type { Engine } from './context.js';
import { checkSystemdImages, rigImageOf } from './up-checks.js';

/** A rig file's build (build:) that the engine does not have yet: one per tag, whichever nodes share it. */
interface PendingBuild {
  ref: string;
  build: BuildSpec;
  use: BuildUse;
}

/**
 * The images the nodes of a plan need that the engine lacks: rig's own (parents first; those a build is FROM
 * too), then the rig file's builds. An unchanged build has its tag already and is not built again.
 */
export class NodeImages {
  private missing: ImageName[] = [];
  private builds: PendingBuild[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly plan: Plan,
  ) {}

  /** The rig images these nodes run or are built FROM, with `also` (the sidecar's, the tools'). */
  rigImages(also: ImageName[]): ImageName[] {
    const names = this.plan.nodes.flatMap(({ spec }) =>
      spec.build ? spec.build.bases.map((b) => b.name as ImageName) : [rigImageOf(spec) ?? 'base'],
    );
    return [...new Set<ImageName>([...also, ...names])];
  }

  /** What is to build. Run after checkBuildBases: a build's bases are rig's node images. */
  async check(missingRigImages: Promise<ImageName[]>): Promise<void> {
    const byRef = new Map<string, PendingBuild>();
    for (const { spec } of this.plan.nodes.filter((n) => n.spec.build)) {
      const ref = this.engine.images.buildRef(spec.build!);
      const pending = byRef.get(ref);
      if (pending) pending.use.nodes.push(spec.name);
      else
        byRef.set(ref, { ref, build: spec.build!, use: { file: this.plan.spec.file, nodes: [spec.name], context: spec.build!.context } });
    }
    const have = await Promise.all([...byRef.keys()].map((ref) => this.engine.images.exists(ref)));
    this.builds = [...byRef.values()].filter((_, i) => !have[i]);
    this.missing = await missingRigImages;
  }

  get none(): boolean {
    return !this.missing.length && !this.builds.length;
  }

  /** What the step builds, for its title. */
  get refs(): string[] {
    return [...this.missing.map((n) => this.engine.images.ref(n)), ...this.builds.map((b) => b.ref)];
  }

  async build(report: (line: string) => void, run: AbortableRun): Promise<void> {
    const { engine } = this;
    for (const name of this.missing) {
      run.signal.throwIfAborted();
      report(`building ${engine.images.ref(name)}`);
      await run.unlessAborted(engine.images.build(name, report));
    }
    for (const { ref, build, use } of this.builds) {
      run.signal.throwIfAborted();
      report(`building ${ref} from ${path.join(build.context, build.dockerfile)} for ${use.nodes.join(', ')}`);
      await run.unlessAborted(engine.images.buildImage(build, use, report));
    }
    // A build with init: systemd is looked into once it exists: whether it has systemd.
    const built = new Set(this.builds.map((b) => b.ref));
    const nodes = this.plan.nodes.filter((n) => n.spec.build && built.has(engine.images.buildRef(n.spec.build)));
    if (nodes.length) await checkSystemdImages(engine, { ...this.plan, nodes });
  }
}
