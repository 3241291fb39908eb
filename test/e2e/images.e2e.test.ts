import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { docker, rig, uniqueName, useRig } from './helpers.js';
import { schemaErrors } from '../schemas.js';

interface Row {
  ref: string;
  store: string;
  image: string;
  current: boolean;
  usedBy: string[];
  size: number;
  purpose: string;
}

describe('rig images', () => {
  const { name } = useRig(
    'img',
    (name) =>
      `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\ninit: systemd\nnodes:\n  barn.village.test:\n`,
  );
  // An image that only looks like rig's (its name), without rig's label: rig never lists or prunes it.
  const impostor = `rig/impostor-${uniqueName('i')}:1`;
  afterAll(async () => {
    await docker(['rmi', '-f', impostor]).catch(() => {});
  });

  it("lists this checkout's images first, what each is for, its size and the rigs that use it, as JSON to its schema", async () => {
    await execa('sh', ['-c', `tar -cf - --files-from /dev/null | docker import - ${impostor}`]);
    const listed = await rig(['images', '--json']);
    expect(listed.exitCode, listed.all).toBe(0);
    const rows = JSON.parse(listed.stdout) as Row[];
    expect(schemaErrors('images-list', rows)).toEqual([]);
    // rig files' builds: build.e2e.test.ts; rig's imports into LXD (listed after): lxd-commands.e2e.test.ts
    const current = rows.filter((r) => r.current && r.image !== 'build' && r.store === 'docker');
    expect(current.map((r) => r.image)).toEqual(['base', 'sidecar', 'tools', 'systemd', 'puppet']);
    expect(rows.slice(0, 5)).toEqual(current); // first
    const systemd = current.find((r) => r.image === 'systemd')!;
    expect(systemd.usedBy).toContain(name); // barn was made from it
    expect(systemd.purpose).toContain('python3');
    expect(systemd.size).toBeGreaterThan(0);
    expect(current.find((r) => r.image === 'sidecar')!.usedBy).toContain(name);
    expect(rows.map((r) => r.ref)).not.toContain(impostor);

    const text = await rig(['images']);
    expect(text.stdout).toMatch(new RegExp(`^${systemd.ref.replace('/', '\\/')} +docker +\\d+ MB +current +.*${name}`, 'm'));
  });

  it('prune --dry-run names only older builds no rig uses: never a current one, one in use, or one not labelled as rig’s', async () => {
    const rows = JSON.parse((await rig(['images', '--json'])).stdout) as Row[];
    const prune = await rig(['images', 'prune', '--dry-run']);
    expect(prune.exitCode, prune.all).toBe(0);
    const named = [...prune.stdout.matchAll(/^would remove (\S+) /gm)].map((m) => m[1]);
    // Other rigs of this machine come and go between the two looks: hold each named one to the rule, not the list.
    const current = rows.filter((r) => r.current).map((r) => r.ref);
    expect(current.filter((ref) => ref.startsWith('rig/'))).toHaveLength(5);
    for (const ref of named) expect(current).not.toContain(ref);
    expect(named).not.toContain(rows.find((r) => r.image === 'systemd' && r.usedBy.includes(name))?.ref);
    expect(named).not.toContain(impostor);
    expect(await docker(['images', '-q', impostor])).not.toBe(''); // still there
  });
});
