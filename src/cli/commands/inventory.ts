import yaml from 'js-yaml';
import { listNodes } from '../../engine/nodes.js';
import { rigStatus, type NodeStatus } from '../../engine/status.js';
import { ExitCode, RigError } from '../../errors.js';
import { ansibleInventory } from '../../ansible/inventory.js';
import { createEngine } from '../engine.js';
import { whichRig } from '../which-rig.js';

/** A node as `rig status` shows it, with what other tools also need: its roles and its container's name. */
interface InventoryNode extends NodeStatus {
  roles: string[];
  container: string;
}

/**
 * rig inventory: the rig's nodes for other tools. Ansible (groups from roles; connections that need no sshd: the
 * Docker connection for Docker nodes, LXC's for LXC nodes, LXD's for LXD nodes), JSON, or an /etc/hosts fragment.
 */
export async function inventory(flags: { name?: string; format: string }): Promise<void> {
  if (!['ansible', 'json', 'hosts'].includes(flags.format)) {
    throw new RigError(`No inventory format ${JSON.stringify(flags.format)}.`, 'use --format ansible, json or hosts', ExitCode.badInput);
  }
  const engine = await createEngine();
  const rig = await whichRig(engine, flags.name);
  const [status] = await rigStatus(engine, rig);
  if (!status) throw new RigError(`No rig named ${rig} is up.`, 'see the rigs with: rig ls', ExitCode.badInput);
  const instances = await listNodes(engine, rig);
  const nodes: InventoryNode[] = status.nodes.map((n) => {
    const instance = instances.find((i) => i.node === n.fqdn);
    // groups from the roles rig recorded on the node, never from its own facts: a node cannot join a group
    return { ...n, roles: instance?.roles ?? [], backend: n.backend, container: instance?.name ?? '' };
  });
  if (flags.format === 'json') console.log(JSON.stringify({ name: rig, dns: status.dns, nodes }, null, 2));
  else if (flags.format === 'hosts') process.stdout.write(hostsFragment(rig, nodes));
  else process.stdout.write(`# rig inventory of rig ${rig}: ansible -i FILE all -m raw -a hostname\n${yaml.dump(ansibleInventory(nodes))}`);
}

/** Each node's address with its names: made-up FQDN and short name, then the live names it stands for. */
function hostsFragment(rig: string, nodes: InventoryNode[]): string {
  const lines = nodes.map((n) => [n.ip, n.fqdn, n.name, ...(n.mirrors ? [n.mirrors, n.mirrors.split('.')[0]] : [])].join(' '));
  return `# rig ${rig}\n${lines.join('\n')}\n`;
}
