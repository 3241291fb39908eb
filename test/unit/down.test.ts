import { describe, expect, it } from 'vitest';
import { lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { destroyRig, reap, removeAbandoned, rigNames } from '../../src/engine/down.js';
import { nodeWiring, sidecarWiring } from '../../src/runtime/veth.js';
import { FakeRuntime } from './fake-runtime.js';

/** A config tree with a live file, and the symlinks rig would have made to it. */
function tree() {
  const dir = mkdtempSync(join(tmpdir(), 'rig-down-'));
  writeFileSync(join(dir, 'live.yaml'), 'x');
  const link = (name: string) => {
    symlinkSync('live.yaml', join(dir, `${name}.yaml`));
    return { path: join(dir, `${name}.yaml`), target: 'live.yaml' };
  };
  return {
    dir,
    link,
    exists: (name: string) => !!lstatSync(join(dir, `${name}.yaml`), { throwIfNoEntry: false }),
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

describe('rig down against the fake runtime', () => {
  it("removes exactly one rig: its nodes, sidecar, network, wiring and links, and nothing of another rig's", async () => {
    const t = tree();
    try {
      const fake = new FakeRuntime();
      const [a, b, shared, user] = [t.link('a'), t.link('b'), t.link('shared'), t.link('users')];
      const net = fake.addNetwork('one', { 'io.rig.links': JSON.stringify([a, shared]) });
      fake.addSidecar('one');
      fake.addNode('one', 'a.v.test');
      fake.addNode('one', 'b.v.test', [b]); // a link a reconcile made, recorded on its node
      fake.attached.set(net.id, ['someone-elses']);
      fake.addNetwork('two', { 'io.rig.links': JSON.stringify([shared]) });
      fake.addSidecar('two');
      fake.addNode('two', 'c.v.test');

      const result = await destroyRig(fake.engine(), 'one');

      expect(result).toEqual({ rig: 'one', containers: 3, links: [a.path, b.path], detached: ['someone-elses'] });
      expect(fake.nets.map((n) => n.labels['io.rig.rig'])).toEqual(['two']);
      expect(fake.boxes.map((c) => c.name)).toEqual(['rig-two.sidecar']);
      expect(fake.nodes.map((n) => n.node)).toEqual(['c.v.test']);
      expect(fake.unwired).toEqual([
        {
          rig: 'one',
          hostInterfaces: [
            nodeWiring('one', 'a.v.test').hostInterface,
            nodeWiring('one', 'b.v.test').hostInterface,
            sidecarWiring('one').hostInterface,
          ],
        },
      ]);
      // The link rig two still lists stays, and so does one nobody lists (the user's).
      expect([t.exists('a'), t.exists('b'), t.exists('shared'), t.exists('users')]).toEqual([false, false, true, true]);
      expect(user.target).toBe('live.yaml');
    } finally {
      t.done();
    }
  });

  it('takes a rig that is half made (a network and nothing else) and one that is already gone', async () => {
    const fake = new FakeRuntime();
    fake.addNetwork('half');
    expect((await destroyRig(fake.engine(), 'half')).containers).toBe(0);
    expect(fake.nets).toEqual([]);
    expect(await destroyRig(fake.engine(), 'half')).toEqual({ rig: 'half', containers: 0, links: [], detached: [] });
  });

  it('goes on past a part that fails (an engine that does not answer), removes all it can, then says why', async () => {
    const fake = new FakeRuntime();
    fake.addNetwork('stuck');
    fake.addSidecar('stuck');
    fake.addNode('stuck', 'a.v.test');
    const hung = new Error('The Docker engine did not answer DELETE /containers/sc-stuck within 60 s');
    fake.removeContainer = async () => {
      throw hung;
    };
    await expect(destroyRig(fake.engine(), 'stuck')).rejects.toBe(hung);
    expect(fake.nodes).toEqual([]); // the nodes went
    expect(fake.nets).toEqual([]); // and the network
    expect(fake.unwired.map((u) => u.rig)).toEqual(['stuck']); // and the host's wiring
    expect(fake.boxes.map((c) => c.name)).toEqual(['rig-stuck.sidecar']); // `rig down` again takes the rest
  });

  it('lists every rig that has anything left, once each, in order', async () => {
    const fake = new FakeRuntime();
    fake.addNetwork('b');
    fake.addSidecar('c');
    fake.addNode('a', 'x.v.test');
    fake.addNode('b', 'y.v.test');
    expect(await rigNames(fake.engine())).toEqual(['a', 'b', 'c']);
  });
});

describe("the reaper's and rig gc's decisions", () => {
  it('the reaper removes the whole rig only if its dead owner had claimed the name, else only the network it made', async () => {
    const fake = new FakeRuntime();
    const winners = fake.addNetwork('race');
    const losers = fake.addNetwork('race');
    fake.addSidecar('race');
    fake.addNode('race', 'a.v.test');
    await reap(fake.engine(), 'race', { claimed: false, network: losers.id });
    expect(fake.nets).toEqual([winners]);
    expect(fake.boxes).toHaveLength(1);
    expect(fake.nodes).toHaveLength(1);
    await reap(fake.engine(), 'race', { claimed: true, network: winners.id });
    expect([fake.nets, fake.boxes, fake.nodes]).toEqual([[], [], []]);
  });

  it("gc removes a rig whose owner is dead and that is not kept; it leaves a kept one, a live owner's, and one it cannot read", async () => {
    const fake = new FakeRuntime();
    const dead = `${hostname()}:999999999`; // no such process
    fake.addNetwork('abandoned', {}, dead);
    fake.addNetwork('kept', {}, dead);
    fake.addNetwork('unreadable', {}, dead);
    fake.addNetwork('working', {}, `${hostname()}:${process.pid}`);
    fake.addNetwork('elsewhere', {}, 'another-host:1');
    const isKept = async (rig: string) => {
      if (rig === 'unreadable') throw new Error('etcd did not answer');
      return rig === 'kept';
    };
    const result = await removeAbandoned(fake.engine(), isKept);
    expect(result).toEqual({
      removed: ['abandoned'],
      left: [{ rig: 'unreadable', why: 'cannot tell whether it is kept: etcd did not answer' }],
    });
    expect(fake.nets.map((n) => n.labels['io.rig.rig'])).toEqual(['kept', 'unreadable', 'working', 'elsewhere']);
  });
});
