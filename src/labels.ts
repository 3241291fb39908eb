/** Everything rig makes carries these labels, so `down` finds it without the rig file and never touches anything else. */
export const Label = {
  rig: 'io.rig.rig', // rig name: on every container, network and LXC container of a rig
  role: 'io.rig.role', // node | sidecar (probe, unpack: made only to read an image's files, never started)
  node: 'io.rig.node', // the node's made-up FQDN
  mirrors: 'io.rig.mirrors', // the live node it copies
  backend: 'io.rig.backend', // docker | lxc | lxd
  init: 'io.rig.init', // on a node with init: systemd, "systemd": down halts it (its units stop) before removing it
  validate: 'io.rig.validate', // on a node: JSON list of its validate commands, for rig test without the rig file
  validateTimeout: 'io.rig.validate-timeout', // on a node: the seconds each validate command may take, if the rig file says
  roles: 'io.rig.roles', // on a node: its roles, comma-separated: what --role, inventories and update read (never its own facts)
  update: 'io.rig.update', // on a node: JSON list of its update commands (rig update), for any tool to read
  spec: 'io.rig.spec', // on a node: a hash of its settings; on the network: of the rig-wide ones (what `up` compares)
  settings: 'io.rig.settings', // on the network: the rig-wide settings as JSON (what `up` says changed when io.rig.spec differs)
  owner: 'io.rig.owner', // on the network: host:pid of the rig process that made it (rig gc)
  links: 'io.rig.links', // JSON list of symlinks rig made: on the network those of `up`, on a node those a reconcile made for it
  rigFile: 'io.rig.file', // on the network: the rig file it came from
  state: 'io.rig.state', // on the sidecar: the host directory with its etcd data and leases
  etcdRoot: 'io.rig.etcd-root', // on the sidecar: the root password of the rig's etcd (nodes have their own users)
  image: 'io.rig.image', // on images rig built: the image definition's name (docker images --filter label=io.rig.image)
  hash: 'io.rig.hash', // on images rig built: the definition's content hash
  subnet: 'io.rig.subnet', // on an LXD rig network: its subnet (LXD gives the bridge none: rig's sidecar serves it)
  internal: 'io.rig.internal', // on an LXD rig network: "true" when the rig has no way out
  build: 'io.rig.build', // on images rig files build (io.rig.image=build): JSON of the rig file, nodes and context it was built for
} as const;

export type Role = 'node' | 'sidecar';

/** The sidecar container's name part (rig-<rig>.sidecar), which no node's short name may take. */
export const SIDECAR = 'sidecar';

// A dot between rig and node: neither a rig name nor a short name has one, so no two rigs' names can meet
// (with a hyphen, rig relq's node x-sidecar and rig relq-x's sidecar were both rig-relq-x-sidecar).
export const containerName = (rig: string, part: string) => `rig-${rig}.${part}`;
export const networkName = (rig: string) => `rig-${rig}`;
