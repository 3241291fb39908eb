import { ExitCode, RigError } from '../../errors.js';
import { CommandError, runCommand } from '../command.js';

const notInstalled = () =>
  new RigError(
    'LXC is not installed, and this rig has LXC nodes.',
    'apt-get install lxc (or use backend: docker)',
    ExitCode.engineUnavailable,
  );

export interface LxcResult {
  exitCode: number;
  output: string; // stdout and stderr, interleaved
}

/**
 * Run one of the LXC tools on the containers under `lxcPath`. A missing tool becomes a RigError saying so;
 * any other failure is thrown as the tool reported it, unless `allowFailure`.
 */
export async function lxc(tool: string, lxcPath: string, args: string[], allowFailure = false): Promise<LxcResult> {
  const result = await runCommand(tool, ['-P', lxcPath, ...args], { allowFailure: true }).catch((err: CommandError) => {
    throw err.code === 'ENOENT' ? notInstalled() : err;
  });
  if (result.exitCode !== 0 && !allowFailure) throw new CommandError(`${tool} ${args.join(' ')}`, undefined, result);
  return { exitCode: result.exitCode, output: result.output };
}

/** Before anything is made: the LXC tools are there, and rig runs as root (its LXC nodes are privileged containers). */
export async function checkLxc(isRoot: boolean): Promise<void> {
  await runCommand('lxc-start', ['--version'], { allowFailure: true }).catch((err: CommandError) => {
    throw err.code === 'ENOENT' ? notInstalled() : err;
  });
  if (!isRoot) {
    throw new RigError(
      'LXC nodes need root: rig runs them as privileged LXC containers.',
      'run rig as root (e.g. sudo rig up ...), or use backend: docker for these nodes',
      ExitCode.engineUnavailable,
    );
  }
}
