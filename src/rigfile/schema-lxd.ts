import * as J from './json-schema.js';
import type { Says } from './json-schema.js';

/**
 * `lxd:`, where a rig's LXD nodes go: rig-wide (remote, project, target), and per node (target only: one rig lives
 * in one project of one LXD, its nodes on the members placement or `target:` picks).
 */

export const LXD_EXAMPLE = 'e.g. lxd: { remote: mycluster, project: ci, target: m2 }';
const REMOTE_HINT =
  "name a remote of the lxc client (lxc remote list), e.g. remote: mycluster; add one with lxc remote add mycluster https://HOST:8443 (rig reads its address and certificates from lxc's config, never from the rig file)";
const MEMBER_HINT = 'name a member of the cluster (lxc cluster list), e.g. target: m2';

/** A remote's name as the lxc client takes it (`lxc remote add NAME`): not an address. */
const REMOTE = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';
/** LXD's project names: no slash, space or colon (kept simple here; LXD says the rest). */
const PROJECT = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';
/** A cluster member's name (its server_name). */
const MEMBER = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';

const remote = J.string({
  description:
    "The LXD to use: a remote of the lxc client, by name (its address, client certificate and the server's certificate from lxc's config: $LXD_CONF, else ~/.config/lxc). Default: local, this host's daemon on its Unix socket.",
  pattern: REMOTE,
  says: {
    expected: 'a remote name',
    hint: REMOTE_HINT,
    invalid: (v) =>
      /:\/\/|:/.test(String(v))
        ? `"${String(v)}" is an address; remote: names a remote of the lxc client`
        : `"${String(v)}" is not a remote name`,
  } satisfies Says,
});

const project = J.string({
  description: "The LXD project rig's nodes and images go in; it must exist. Default: the remote's project in lxc's config, else default.",
  pattern: PROJECT,
  says: {
    expected: 'a project name',
    hint: 'name a project of that LXD (lxc project list), e.g. project: ci; make one with lxc project create ci',
    invalid: (v) => `"${String(v)}" is not a project name`,
  },
});

const target = (description: string) =>
  J.string({
    description,
    pattern: MEMBER,
    says: { expected: 'a cluster member name', hint: MEMBER_HINT, invalid: (v) => `"${String(v)}" is not a cluster member name` },
  });

export const lxdSettings = () =>
  J.object(
    {
      remote,
      project,
      target: target(
        "The cluster member every LXD node goes on, unless it has a target: of its own. Default: none; nodes spread over the cluster's online members.",
      ),
    },
    {
      description: "Where the rig's LXD nodes (backend: lxd) go. Default: this host's LXD daemon, its default project.",
      says: { expected: 'a map', hint: LXD_EXAMPLE },
    },
  );

export const nodeLxdSettings = () =>
  J.object(
    { target: target('The cluster member this node goes on (an LXD node), instead of the rig-wide one or placement.') },
    {
      description: "Where this LXD node goes: its own target:. The remote and project are the rig's (the top-level lxd:).",
      says: {
        expected: 'a map',
        hint: 'e.g. lxd: { target: m2 }',
        unknownKey: (key) =>
          key === 'remote' || key === 'project'
            ? `; ${key}: is rig-wide (the top-level lxd:): a rig's nodes are all in one project of one LXD`
            : '',
      },
    },
  );
