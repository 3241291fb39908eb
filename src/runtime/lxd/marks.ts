import { Label } from '../../labels.js';

/**
 * rig's marks on what it makes in LXD: its labels (labels.ts, `io.rig.<key>`) as `user.rig.<key>` config keys of
 * instances, networks and images' properties. LXD keeps `user.*` keys as given and ignores them, and they are listed
 * with everything else (`recursion=1`), so `down`, the reaper and `gc` find what is rig's by marks alone, as with
 * Docker's labels.
 */
const LABEL_PREFIX = 'io.rig.';
const MARK_PREFIX = 'user.rig.';

/** rig's labels as LXD config keys. */
export function marksOf(labels: Record<string, string>): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith(LABEL_PREFIX)) throw new Error(`not one of rig's labels: ${key}`);
    config[MARK_PREFIX + key.slice(LABEL_PREFIX.length)] = value;
  }
  return config;
}

/** The labels an LXD object's config carries as marks (other keys are not rig's and are left out). */
export function labelsOf(config: Record<string, string> | null | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(config ?? {})) {
    if (key.startsWith(MARK_PREFIX)) labels[LABEL_PREFIX + key.slice(MARK_PREFIX.length)] = value;
  }
  return labels;
}

/** Whether an object's config marks it as rig's, and of this rig if one is named. */
export function isRigs(config: Record<string, string> | null | undefined, rig?: string): boolean {
  const owner = config?.[MARK_PREFIX + Label.rig.slice(LABEL_PREFIX.length)];
  return owner !== undefined && (rig === undefined || owner === rig);
}
