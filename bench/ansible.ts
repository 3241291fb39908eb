// An ansible step (issue 25): `rig provision` of the orchard example against the same playbook by hand.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { Ctx } from './context.js';
import type { Options } from './options.js';
import { live, NODE, repo, RIG, rigDown, run } from './process.js';
import { lines, ratio, round, roundN, stats, tailOf, timed, type Maybe, type Stats } from './util.js';

export interface AnsibleCost {
  tasks: number; // tasks (and handlers) the playbook ran per host
  provision: Stats; // rig provision grove press: the step on both web nodes, then their validate commands
  steps: Stats; // of which the steps, as rig provision --json times them (the slower node's), without validate
  byHand: Stats; // ansible-playbook by hand over the rig's inventory (the step's connections: nsenter, lxc), then validate
  ratio: Maybe;
  perTaskDockerExec: Stats; // by hand over `rig inventory` as it is (community.docker.docker), per task
  perTaskNsenter: Stats; // the same with nsenter for the Docker node, as the step has it, per task
}

/** The settings the step runs ansible-playbook with (src/ansible/playbook.ts), for the runs by hand. */
const ANSIBLE_ENV = [
  'ANSIBLE_PIPELINING=True',
  'ANSIBLE_NOCOLOR=True',
  'ANSIBLE_RETRY_FILES_ENABLED=False',
  'ANSIBLE_HOST_KEY_CHECKING=False',
];

/**
 * The orchard example up once (a Docker and an LXC web node converged by its ansible step), then, alternating:
 * `rig provision grove press` (the step, then validate), the playbook by hand over the rig's inventory with the
 * step's connections, and by hand over `rig inventory` as it is (docker exec per module). Per task: a run by hand
 * over the number of tasks it ran.
 */
export async function ansibleCost(options: Options, ctx: Ctx): Promise<AnsibleCost> {
  const name = `${ctx.prefix}ans`;
  const dir = join(ctx.tmp, name);
  cpSync(join(repo, 'rigs', 'orchard'), dir, { recursive: true });
  live.set(name, () => rigDown(name));
  try {
    const up = await run(NODE, [RIG, 'up', 'rig.yaml', '--name', name], { cwd: dir, reject: false });
    if (up.exitCode !== 0) throw new Error(`rig up of the orchard example failed:\n${tailOf(up.all ?? up.stderr)}`);
    const { dockerExec, nsenter, webNodes } = await inventories(name, dir);
    const playbook = join(dir, 'ansible', 'site.yml');
    const playbookByHand = (inventory: string) =>
      run('env', [...ANSIBLE_ENV, 'ansible-playbook', '-i', inventory, playbook], { cwd: join(dir, 'ansible') });
    // converge, then verify, as a Molecule user does by hand (and as the Puppet rows time steps + validate)
    const validate = validateCommands(dir);
    const validateByHand = () => Promise.all(webNodes.map((node) => run(...inNode(node, validate.join(' && ')))));
    const ms = {
      provision: [] as number[],
      steps: [] as number[],
      byHand: [] as number[],
      playbook: [] as number[],
      dockerExec: [] as number[],
    };
    let tasks = 0;
    for (let i = 0; i < options.ansibleRuns; i++) {
      const provision = await timed(() => run(NODE, [RIG, 'provision', 'grove', 'press', '--name', name, '--json']));
      ms.provision.push(roundN(provision.ms));
      const results = JSON.parse(provision.result.stdout) as Array<{ seconds: number }>;
      ms.steps.push(roundN(Math.max(...results.map((r) => r.seconds)) * 1000));
      const hand = await timed(() => playbookByHand(nsenter));
      const verify = await timed(validateByHand);
      ms.playbook.push(roundN(hand.ms));
      ms.byHand.push(roundN(hand.ms + verify.ms));
      tasks = lines(hand.result.stdout).filter((l) => /^(TASK|RUNNING HANDLER) \[/.test(l)).length;
      ms.dockerExec.push(roundN((await timed(() => playbookByHand(dockerExec))).ms));
    }
    const s = { provision: stats(ms.provision), steps: stats(ms.steps), byHand: stats(ms.byHand) };
    const perTask = (values: number[]) => stats(values.map((v) => roundN(v / Math.max(tasks, 1))));
    return {
      tasks,
      ...s,
      ratio: round(ratio(s.provision.median, s.byHand.median), 3),
      perTaskDockerExec: perTask(ms.dockerExec),
      perTaskNsenter: perTask(ms.playbook),
    };
  } finally {
    await rigDown(name);
    live.delete(name);
  }
}

/** The rig file's validate commands (rig-wide: the web nodes have none of their own). */
function validateCommands(dir: string): string[] {
  return (yaml.load(readFileSync(join(dir, 'rig.yaml'), 'utf8')) as { validate: string[] }).validate;
}

interface WebNode {
  connection: string;
  container: string;
}

/** A shell command in a node by hand: docker exec for a Docker node, lxc-attach for an LXC node. */
function inNode(node: WebNode, command: string): [string, string[]] {
  return node.connection === 'community.general.lxc'
    ? ['lxc-attach', ['-n', node.container, '--', 'sh', '-c', command]]
    : ['docker', ['exec', node.container, 'sh', '-c', command]];
}

/**
 * `rig inventory` as it is, and the same with each running Docker node reached by nsenter (its PID), as the step
 * does; and the web nodes (the playbook's hosts), as their validate commands are run by hand.
 */
async function inventories(name: string, dir: string): Promise<{ dockerExec: string; nsenter: string; webNodes: WebNode[] }> {
  const text = (await run(NODE, [RIG, 'inventory', '--name', name])).stdout;
  const inventory = yaml.load(text) as { all: { hosts: Record<string, Record<string, unknown>> } };
  const webNodes = Object.entries(inventory.all.hosts)
    .filter(([fqdn]) => !fqdn.startsWith('gate.'))
    .map(([, host]) => ({ connection: String(host.ansible_connection), container: String(host.ansible_host) }));
  const dockerExec = join(dir, 'inventory-docker-exec.yml');
  writeFileSync(dockerExec, text);
  for (const host of Object.values(inventory.all.hosts)) {
    if (host.ansible_connection !== 'community.docker.docker') continue;
    const pid = (await run('docker', ['inspect', '-f', '{{.State.Pid}}', String(host.ansible_host)])).stdout.trim();
    Object.assign(host, { ansible_connection: 'community.docker.nsenter', ansible_nsenter_pid: Number(pid) });
  }
  const nsenter = join(dir, 'inventory-nsenter.yml');
  writeFileSync(nsenter, yaml.dump(inventory));
  return { dockerExec, nsenter, webNodes };
}
