import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { rig, useRig } from './helpers.js';

describe("rig's systemd image as an Ansible target", () => {
  const { name, dir } = useRig(
    'ans-img',
    (name) =>
      `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\ninit: systemd\nnodes:\n  barn.village.test:\n    roles: [db]\n  mill.village.test:\n    backend: lxc\n    roles: [db]\n`,
  );

  it("runs Ansible's Python modules in plain systemd nodes, Docker and LXC, with no image of one's own", async () => {
    const inventory = await rig(['inventory', '--name', name]);
    expect(inventory.exitCode, inventory.all).toBe(0);
    const file = join(dir, 'inventory.yml');
    writeFileSync(file, inventory.stdout);
    const ping = await execa('ansible', ['-i', file, 'db', '-m', 'ping'], { reject: false, all: true });
    expect(ping.exitCode, ping.all).toBe(0);
    expect(ping.stdout).toMatch(/^barn\.village\.test \| SUCCESS/m);
    expect(ping.stdout).toMatch(/^mill\.village\.test \| SUCCESS/m);
  });
});
