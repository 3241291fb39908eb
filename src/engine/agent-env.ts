import { relative } from 'node:path';
import { REPO_MOUNT, type Plan, type PlannedNode } from '../plan/plan.js';
import type { ProvisionStep, Reaction } from '../rigfile/types.js';
import { reactionLabel } from '../rigfile/reactions.js';

const b64 = (text: string | undefined) => (text ? Buffer.from(text).toString('base64') : '-');

/**
 * The agent's environment: who the node is, where etcd is, what it mirrors, its custom facts, what it needs and
 * its provisioning steps, each pre-encoded so the agent (busybox sh) needs no JSON parser.
 */
export function agentEnv(
  plan: Plan,
  node: PlannedNode,
  etcd: { url: string; password: string },
  waitSeconds: number,
): Record<string, string> {
  const inNode = (path: string | undefined) => (path ? `${REPO_MOUNT}/${relative(plan.spec.dir, path)}` : undefined);
  // An ansible step runs on the host: the node only asks for it (by its number), and the host takes the playbook
  // from the rig file, never from the node.
  const step = (s: ProvisionStep) =>
    s.kind === 'shell'
      ? `shell ${b64(s.script)} ${s.changedExit ?? '-'}`
      : s.kind === 'script'
        ? `script ${b64(inNode(s.path))} ${s.changedExit ?? '-'}`
        : s.kind === 'ansible'
          ? 'ansible'
          : `puppet ${b64(inNode(s.manifest))} ${b64(inNode(s.modulepath))} ${b64(inNode(s.hieraConfig))}`;
  return {
    RIG_NAME: plan.name,
    RIG_NODE: node.spec.name,
    RIG_ETCD: etcd.url,
    RIG_ETCD_PASSWORD: etcd.password, // the node's own: its etcd user is its FQDN
    RIG_MIRRORS: node.spec.mirrors ?? '',
    RIG_ROLES: node.spec.roles.join(','),
    RIG_CUSTOM_FACTS: Object.entries(node.spec.facts)
      .map(([name, value]) => `${name} ${Buffer.from(value).toString('base64')}`)
      .join('\n'),
    RIG_NEEDS: node.spec.needs.map((n) => `${n.node} ${n.fact ?? '-'}`).join('\n'),
    RIG_PROVISION: node.spec.provision.map(step).join('\n'),
    RIG_REACTIONS: reactionsEnv(node.spec.reactions, step),
    RIG_WAIT_TIMEOUT: String(waitSeconds),
    RIG_ETCD_CALL_TIMEOUT: String(etcdCallSeconds(plan.nodes.length)),
    RIG_DHCP_TRIES: String(dhcpTries(plan.nodes.length)),
    RIG_ALIVE_TTL: String(aliveTtlSeconds(plan.nodes.length)),
    RIG_INIT: node.spec.init,
  };
}

/**
 * How long a node's one call to etcd may take (rig-fact's default is 10 s): a big rig's nodes all publish as they
 * boot, and on a small machine the rig's one etcd answers them slower (a 200-node rig saw a write cut at 10 s).
 */
export const etcdCallSeconds = (nodes: number) => 10 + Math.floor(nodes / 20);

/** How many DHCP requests a node makes, a second apart, before it fails (dnsmasq answers a big rig's boot slower). */
export const dhcpTries = (nodes: number) => 10 + Math.floor(nodes / 10);

/**
 * The TTL of a node's alive lease (rig-fact keeps it alive every third of it): 9 s up to 30 nodes, then growing
 * with the rig so that the whole rig makes about ten keepalives a second, up to the 60 s the sidecar's proxy allows.
 * Each keepalive is a few processes in the node and a request through the proxy: a 200-node rig's 67 a second at
 * 9 s took most of this 2-core machine's CPU, and the late ones made live nodes read as lost. A node whose death the
 * host sees loses its lease at once whatever its TTL; only a silent one (hung, cut off) takes longer to read as lost.
 */
export const aliveTtlSeconds = (nodes: number) => Math.min(60, Math.max(9, Math.ceil(nodes * 0.3)));

/**
 * A node's reactions as lines for its agent: "react I change FQDN FACT LABEL" or "react I stage FQDN - LABEL", then
 * "provision I" (its own steps again) or one "step I ..." line per step, as RIG_PROVISION has them.
 */
export function reactionsEnv(reactions: Reaction[], step: (s: ProvisionStep) => string): string {
  return reactions
    .flatMap((r, i) => [
      'change' in r
        ? `react ${i + 1} change ${r.change.node} ${r.change.fact} ${reactionLabel(r)}`
        : `react ${i + 1} stage ${r.stage} - ${reactionLabel(r)}`,
      ...(r.run === 'provision' ? [`provision ${i + 1}`] : r.run.map((s) => `step ${i + 1} ${step(s)}`)),
    ])
    .join('\n');
}
