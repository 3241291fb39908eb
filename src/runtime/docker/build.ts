import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { errorMessage, ExitCode, RigError } from '../../errors.js';
import { Label } from '../../labels.js';
import { contextEntries, resolveBases } from '../../rigfile/build-context.js';
import type { BuildSpec } from '../../rigfile/types.js';
import { BUILD_IMAGE, type BuildUse } from '../images.js';
import { followStream } from './connect.js';
import { tarArchive } from './tar.js';

/** How many lines of a failed build's output its error shows. */
const TAIL_LINES = 20;

/** A repository name from the context's directory name: Docker's rule is lowercase letters and digits between . _ - */
const repository = (context: string) =>
  `rig-build/${
    path
      .basename(context)
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'image'
  }`;

/** The tag of a build: its context's hash and the tags of rig's images it is FROM (they change with rig's definitions). */
export function buildRef(build: BuildSpec, rigRef: (name: string) => string): string {
  const h = createHash('sha256').update(build.hash);
  for (const base of build.bases) h.update(`\0${base.name}\0${rigRef(base.name)}`);
  return `${repository(build.context)}:${h.digest('hex').slice(0, 12)}`;
}

/** The context as the legacy builder takes it: a tar of its files, the Dockerfile's FROM rig:NAME lines resolved. */
function contextArchive(build: BuildSpec, rigRef: (name: string) => string): Buffer {
  return tarArchive(
    contextEntries(build.context, build.dockerfile).map((e) => {
      const full = path.join(build.context, e.path);
      if (e.type !== 'file') return e;
      const content = fs.readFileSync(full);
      return { ...e, content: e.path === build.dockerfile ? Buffer.from(resolveBases(content.toString('utf8'), rigRef)) : content };
    }),
  );
}

export async function buildUserImage(
  docker: Docker,
  build: BuildSpec,
  use: BuildUse,
  rigRef: (name: string) => string,
  onLine: (line: string) => void,
): Promise<void> {
  const ref = buildRef(build, rigRef);
  const tail: string[] = [];
  try {
    const stream = await docker.buildImage(Readable.from([contextArchive(build, rigRef)]) as unknown as NodeJS.ReadableStream, {
      t: ref,
      dockerfile: build.dockerfile,
      buildargs: build.args,
      labels: { [Label.image]: BUILD_IMAGE, [Label.hash]: ref.split(':')[1], [Label.build]: JSON.stringify(use) },
      rm: true,
      forcerm: true, // a failed step's container goes too
    });
    await followStream(docker, stream, (text) => {
      for (const line of text.split('\n')) {
        if (!/^(---> |Removing intermediate container )/.test(line)) tail.push(line);
        if (/^Step \d+\/\d+/.test(line)) onLine(line);
      }
      tail.splice(0, tail.length - TAIL_LINES);
    });
  } catch (err) {
    const dockerfile = path.join(build.context, build.dockerfile);
    throw new RigError(
      `Building ${ref} from ${dockerfile} failed: ${errorMessage(err)}`,
      'fix the Dockerfile (or what its context holds), then run rig up again',
      ExitCode.failed,
      { cause: err, detail: tail.length ? `the end of the build's output:\n${tail.map((l) => `  ${l}`).join('\n')}` : undefined },
    );
  }
}
