import { execa } from 'execa';
import { ExitCode, RigError } from '../../errors.js';

export const notInstalled = () =>
  new RigError('LXC is not installed, and this rig has LXC nodes.', 'apt-get install lxc (or use backend: docker)', ExitCode.engineUnavailable);

export interface LxcResult {
  exitCode: number;
  output: string; // stdout and stderr, interleaved
}

/**
 * Run one of the LXC tools on the containers under `lxcPath`. A missing tool becomes a RigError saying so;
 * any other failure is thrown as the tool reported it, unless `allowFailure`.
 */
export async function lxc(tool: string, lxcPath: string, args: string[], allowFailure = false): Promise<LxcResult> {
  const result = await execa(tool, ['-P', lxcPath, ...args], { all: true, reject: false, stdin: 'ignore', stripFinalNewline: false });
  if ((result as { code?: string }).code === 'ENOENT') throw notInstalled();
  if (result.failed && !allowFailure) throw new Error(`${tool} ${args.join(' ')}: ${result.all?.trim() || result.message}`);
  return { exitCode: result.exitCode ?? 1, output: result.all ?? '' };
}

/** Before anything is made: the LXC tools are there, and rig runs as root (its LXC nodes are privileged containers). */
export async function checkLxc(isRoot: boolean): Promise<void> {
  const result = await execa('lxc-start', ['--version'], { reject: false, stdin: 'ignore' });
  if ((result as { code?: string }).code === 'ENOENT') throw notInstalled();
  if (!isRoot) {
    throw new RigError(
      'LXC nodes need root: rig runs them as privileged LXC containers.',
      'run rig as root (e.g. sudo rig up ...), or use backend: docker for these nodes',
      ExitCode.engineUnavailable,
    );
  }
}
