import type { Engine } from './context.js';
import { recordDrill } from './drills.js';
import { describeDiff, type RigDiff } from './reconcile.js';
import { rigStatus, sidecarDown } from './status.js';
import { ExitCode, RigError } from '../errors.js';
import { Label } from '../labels.js';
import { planRig } from '../plan/plan.js';
import type { NodeInstance } from '../runtime/backend.js';
import { loadRigFile } from '../rigfile/load.js';
import { diffRunning, reconcile } from './apply.js';
import type { Reporter } from './reporter.js';

/**
 * A node made again, as a host is redeployed: its container removed, a fresh one made from its settings in the rig
 * file and provisioned again, by the reconcile `up` applies to an edited rig file (here, to this node alone). With
 * `newAddress` it comes back at another address of the rig subnet: dnsmasq's DHCP and DNS and the port guard move
 * with it. Refused when the rig file differs from the rig (rig up applies that). Resolves to its address.
 */
export async function replaceNode(
  engine: Engine,
  node: NodeInstance,
  options: { newAddress: boolean; timeoutMs: number },
  reporter: Reporter,
): Promise<{ before: string; after: string }> {
  const { rig } = node;
  const [network] = await engine.rigs.networks(rig);
  const file = network?.labels[Label.rigFile];
  if (!network || !file)
    throw new RigError(
      `Rig ${rig} does not say which rig file it was made from.`,
      'make the node again with rig up of its rig file',
      ExitCode.badInput,
    );
  const plan = planRig(loadRigFile(file, { name: rig }));
  // As `up` of an edited rig file finds it (findRig), but also while the process that made the rig still runs: a
  // test suite (the API's up) or a `rig run` replaces its own rig's nodes.
  const { diff, nodes } = await diffRunning(engine, plan, network, { sidecarMayBeDown: false });
  const running = { network, nodes };
  if (diff.rigChanged || diff.added.length || diff.removed.length || diff.changed.length)
    throw new RigError(
      `${file} differs from rig ${rig}:\n${describeDiff(diff)
        .map((l) => `  ${l}`)
        .join('\n')}\nrig replace makes a node again as the rig has it, and changes nothing else.`,
      `apply the rig file first with: rig up ${file}`,
      ExitCode.badInput,
    );
  const sidecar = (await engine.rigs.containers(rig)).find((c) => c.role === 'sidecar');
  if (sidecar?.state !== 'running') throw sidecarDown(rig, sidecar?.state ?? 'missing');
  const addressOf = async () => (await rigStatus(engine, rig))[0]?.nodes.find((n) => n.fqdn === node.node)?.ip ?? '';
  const before = await addressOf();
  const others = [...diff.unchanged, ...diff.broken].filter((n) => n !== node.node);
  const only: RigDiff = { rigChanged: false, added: [], removed: [], changed: [], broken: [node.node], unchanged: others };
  await reconcile(
    engine,
    plan,
    only,
    { ...running, sidecar },
    { timeoutMs: options.timeoutMs, file, newAddress: options.newAddress ? [node.node] : [] },
    reporter,
  );
  const after = await addressOf();
  await recordDrill(engine, rig, { kind: 'replace', node: node.node, detail: before === after ? `at ${after}` : `${before} -> ${after}` });
  return { before, after };
}
