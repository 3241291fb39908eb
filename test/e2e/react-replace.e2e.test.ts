import { describe, expect, it } from 'vitest';
import { docker, eventually, rig, useRig } from './helpers.js';

// Issue 22: a node that reacts to a peer replaced on a new address (a redeployed host) follows it there, and one
// replace, with all the stages the new node goes through, is one event to its peers, not a loop.

interface StatusNode {
  name: string;
  ip: string;
  stage: string;
}
const nodes = async (name: string) =>
  (JSON.parse((await rig(['status', '--name', name, '--json'])).stdout) as Array<{ nodes: StatusNode[] }>)[0].nodes;
const node = async (name: string, short: string) => (await nodes(name)).find((n) => n.name === short)!;
/** What mill wrote down of barn's address the last time its reaction ran. */
const millSees = async (name: string) =>
  (await docker(['exec', `rig-${name}.mill`, 'sh', '-c', 'cat /tmp/barn-at 2>/dev/null || true'])).trim();

describe('a reaction to a peer replaced on a new address', () => {
  const r = useRig(
    'reactrepl',
    (name) => `name: ${name}
domain: rr.test
network: { internal: true }
configs: []
nodes:
  barn.rr.test:
  mill.rr.test:
    on:
      - stage: barn
        run: [{ shell: 'rig-fact get barn ipaddress > /tmp/barn-at' }]
`,
  );

  it('runs when barn comes back on its new address, finds it there, and mill stays ready', async () => {
    const before = await node(r.name, 'barn');
    const replace = await rig(['replace', 'barn', '--new-address', '--name', r.name]);
    expect(replace.exitCode, replace.all).toBe(0);
    const after = await node(r.name, 'barn');
    expect(after.ip).not.toBe(before.ip);
    expect(await eventually(async () => (await millSees(r.name)) === after.ip, 30_000), await millSees(r.name)).toBe(true);
    // The replace's stages (lost, created, addressed, facts, ready) are one burst: coalesced, never the loop guard.
    expect(await eventually(async () => (await node(r.name, 'mill')).stage === 'ready', 30_000)).toBe(true);
    const ping = await rig(['exec', 'mill', '--name', r.name, '--', '/.rig/bin/ping', '-c', '1', '-W', '2', after.ip]);
    expect(ping.exitCode, ping.all).toBe(0);
  });
});
