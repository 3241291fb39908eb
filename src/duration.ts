import { ExitCode, RigError } from './errors.js';

/** "90", "90s", "2m", "1m30s" -> milliseconds; anything else (or zero) is bad input, named by `option`. */
export function parseDuration(text: string, option = '--timeout'): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s?)?$/.exec(text.trim());
  const ms = match && (match[1] || match[2]) ? (Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0)) * 1000 : 0;
  if (!ms || ms > 2 ** 31 - 1)
    throw new RigError(
      `${option} ${JSON.stringify(text)} is not a duration (or not one rig can wait).`,
      'write e.g. 90s, 10m or 1m30s',
      ExitCode.badInput,
    );
  return ms;
}
