import { declarationOf, type BackendKind } from '../runtime/kinds.js';

/** A node as an Ansible inventory names it. */
export interface InventoryHost {
  fqdn: string;
  container: string; // its container's name
  backend: BackendKind;
  ip: string;
  roles: string[];
  mirrors?: string;
  pid?: number; // its init's PID on the host: with it, a Docker node is reached by nsenter (see ansibleInventory)
}

/**
 * An Ansible inventory of the rig: a host per node, a group per role, and connections that need no sshd, as each
 * backend declares them (runtime/<kind>/kind.ts): for a Docker node with its PID known, `community.docker.nsenter`
 * (the node's namespaces entered from the host: no `docker exec` per module, the fastest here, see the README's
 * Ansible section), else `community.docker.docker`; an LXD node likewise, else `community.general.lxd`; for an LXC
 * node `community.general.lxc` (without pipelining).
 * `rig_live_name` is the live node it mirrors.
 */
export function ansibleInventory(nodes: InventoryHost[]) {
  const hosts = Object.fromEntries(
    nodes.map((n) => [
      n.fqdn,
      {
        ansible_host: n.container,
        ...connection(n),
        ansible_python_interpreter: 'auto_silent',
        rig_ip: n.ip,
        ...(n.mirrors ? { rig_mirrors: n.mirrors, rig_live_name: n.mirrors } : {}),
      },
    ]),
  );
  const groups = [...new Set(nodes.flatMap((n) => n.roles))].sort();
  const children = Object.fromEntries(
    groups.map((g) => [g, { hosts: Object.fromEntries(nodes.filter((n) => n.roles.includes(g)).map((n) => [n.fqdn, null])) }]),
  );
  return { all: { hosts, ...(groups.length ? { children } : {}) } };
}

function connection(n: InventoryHost): Record<string, string | number | boolean> {
  const { ansibleConnection, ansibleConnectionByPid, ansibleVars } = declarationOf(n.backend);
  const byPid = ansibleConnectionByPid && n.pid ? { ansible_connection: ansibleConnectionByPid, ansible_nsenter_pid: n.pid } : undefined;
  return { ...(byPid ?? { ansible_connection: ansibleConnection }), ...ansibleVars };
}
