import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ansibleInventory } from '../../src/ansible/inventory.js';
import { recapNames, tasksOf, verdictOf } from '../../src/ansible/playbook.js';
import { agentEnv } from '../../src/engine/agent-env.js';
import { RigFileError } from '../../src/errors.js';
import { planRig } from '../../src/plan/plan.js';
import { parseRigFile } from '../../src/rigfile/load.js';

// ansible-playbook's default output (no colour) for barn, as Debian's ansible-core 2.14 prints it.
const RUN = `
PLAY [all] *********************************************************************

TASK [demo : a file] ***********************************************************
changed: [barn.village.test]
ok: [mill.village.test]

TASK [demo : a line] ***********************************************************
changed: [barn.village.test]

TASK [demo : a check] **********************************************************
fatal: [barn.village.test]: FAILED! => {"assertion": "st.stat.exists", "changed": false, "evaluated_to": false, "msg": "Assertion failed"}

RUNNING HANDLER [demo : note it] ***********************************************
changed: [barn.village.test]

PLAY RECAP *********************************************************************
barn.village.test          : ok=3    changed=2    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
`;

describe('ansible-playbook output', () => {
  it('names the tasks that changed the host and those that failed, with their message', () => {
    expect(tasksOf(RUN, 'barn.village.test')).toEqual({
      changed: ['TASK [demo : a file]', 'TASK [demo : a line]', 'HANDLER [demo : note it]'],
      failed: [{ task: 'TASK [demo : a check]', message: 'Assertion failed' }],
    });
    expect(tasksOf(RUN, 'mill.village.test')).toEqual({ changed: [], failed: [] });
  });

  it('fails a run that failed with its task, and a second run that changed something with the tasks that did', () => {
    expect(verdictOf(RUN, 2, 'barn.village.test', 1)).toMatchObject({ code: 1, why: 'failed: TASK [demo : a check]: Assertion failed' });
    const changed = RUN.replace(/^fatal.*$/m, 'ok: [barn.village.test]').replace('failed=1', 'failed=0');
    expect(verdictOf(changed, 0, 'barn.village.test', 1)).toMatchObject({ code: 0 });
    expect(verdictOf(changed, 0, 'barn.village.test', 2)).toMatchObject({
      code: 2,
      why: 'changed on the second run: TASK [demo : a file], TASK [demo : a line], HANDLER [demo : note it]',
    });
    // One run for two hosts exits 2 when one fails: the other, its recap clean, passed.
    const both = `${RUN}mill.village.test          : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0\n`;
    expect(verdictOf(both, 2, 'mill.village.test', 1)).toMatchObject({ code: 0 });
    expect(verdictOf(both, 2, 'barn.village.test', 1)).toMatchObject({ code: 1 });
    expect(verdictOf('ERROR! the playbook: site.yml could not be found\n', 1, 'barn.village.test', 1)).toMatchObject({
      code: 1,
      why: 'ansible-playbook exited 1: ERROR! the playbook: site.yml could not be found',
    });
  });

  it('knows when the recap names every host of a run: a whole line each, after PLAY RECAP', () => {
    const mill = 'mill.village.test          : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0';
    expect(recapNames(RUN, ['barn.village.test'])).toBe(true);
    expect(recapNames(RUN, ['barn.village.test', 'mill.village.test'])).toBe(false);
    expect(recapNames(`${RUN}${mill}`, ['barn.village.test', 'mill.village.test'])).toBe(false); // its line not ended yet
    expect(recapNames(`${RUN}${mill}\n`, ['barn.village.test', 'mill.village.test'])).toBe(true);
    expect(recapNames(RUN.slice(0, RUN.indexOf('PLAY RECAP')), [])).toBe(false);
    // a task's output that looks like a recap line does not count before the recap
    expect(recapNames(`${mill}\n${RUN}`, ['mill.village.test'])).toBe(false);
  });
});

describe('the inventory of an ansible step', () => {
  it('reaches a Docker node by nsenter when its PID is known, else by docker exec; an LXC node by LXC; groups from roles', () => {
    const inventory = ansibleInventory([
      {
        fqdn: 'barn.village.test',
        container: 'rig-v.barn',
        backend: 'docker',
        ip: '10.0.0.2',
        roles: ['db'],
        mirrors: 'straleb.prod.example',
        pid: 42,
      },
      { fqdn: 'mill.village.test', container: 'rig-v.mill', backend: 'lxc', ip: '10.0.0.3', roles: ['db'] },
      { fqdn: 'well.village.test', container: 'rig-v.well', backend: 'docker', ip: '10.0.0.4', roles: [] },
    ]);
    expect(inventory.all.hosts['barn.village.test']).toMatchObject({
      ansible_connection: 'community.docker.nsenter',
      ansible_nsenter_pid: 42,
      rig_live_name: 'straleb.prod.example',
    });
    expect(inventory.all.hosts['mill.village.test']).toMatchObject({
      ansible_connection: 'community.general.lxc',
      ansible_host: 'rig-v.mill',
    });
    expect(inventory.all.hosts['well.village.test']).toMatchObject({ ansible_connection: 'community.docker.docker' });
    expect(inventory.all.children).toEqual({ db: { hosts: { 'barn.village.test': null, 'mill.village.test': null } } });
  });

  it("reaches an LXD node by nsenter when its PID is known, else by LXD's connection (what rig inventory gives)", () => {
    const lxd = { fqdn: 'pump.village.test', container: 'rig-v-pump-0123abcd', backend: 'lxd' as const, ip: '10.0.0.5', roles: [] };
    const byPid = ansibleInventory([{ ...lxd, pid: 43 }]).all.hosts['pump.village.test'];
    expect(byPid).toMatchObject({ ansible_connection: 'community.docker.nsenter', ansible_nsenter_pid: 43 });
    const byLxd = ansibleInventory([lxd]).all.hosts['pump.village.test'];
    expect(byLxd).toMatchObject({ ansible_connection: 'community.general.lxd', ansible_host: 'rig-v-pump-0123abcd' });
  });
});

describe('ansible steps in the rig file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rig-ansible-test-')));
    fs.mkdirSync(path.join(dir, 'ansible'));
    fs.writeFileSync(path.join(dir, 'ansible/site.yml'), '- hosts: all\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const parse = (...lines: string[]) => parseRigFile(lines.join('\n') + '\n', path.join(dir, 'rig.yaml'));
  const problems = (...lines: string[]) => {
    try {
      parse(...lines);
    } catch (err) {
      return (err as RigFileError).problems.map((p) => `${p.line}:${p.path}: ${p.message}`);
    }
    throw new Error('expected a RigFileError');
  };

  it('takes a playbook path or a map with playbook:, and tells the node only which step to ask the host for', () => {
    const spec = parse(
      'domain: village.test',
      'nodes:',
      '  barn: { provision: [{ shell: echo hi }, { ansible: ansible/site.yml }] }',
      '  mill: { provision: [{ ansible: { playbook: ansible/site.yml } }] }',
    );
    expect(spec.nodes[1].provision).toEqual([{ kind: 'ansible', playbook: path.join(dir, 'ansible/site.yml') }]);
    const plan = planRig(spec);
    const env = agentEnv(plan, plan.nodes[0], { url: 'http://etcd', password: 'p' }, 60);
    expect(env.RIG_PROVISION.split('\n')).toEqual([expect.stringMatching(/^shell /), 'ansible']);
  });

  it('refuses a missing playbook, changed_exit: beside it, and an ansible step in a reaction', () => {
    expect(problems('domain: village.test', 'nodes:', '  barn: { provision: [{ ansible: ansible/nope.yml }] }')).toEqual([
      expect.stringMatching(/^3:nodes\.barn\.provision\[0\]\.ansible: playbook ansible\/nope\.yml does not exist/),
    ]);
    expect(problems('domain: village.test', 'nodes:', '  barn: { provision: [{ ansible: ansible/site.yml, changed_exit: 2 }] }')).toEqual([
      '3:nodes.barn.provision[0].changed_exit: is for shell: and script: steps',
    ]);
    const reacting = problems(
      'domain: village.test',
      'nodes:',
      '  barn: {}',
      '  mill:',
      '    provision: [{ ansible: ansible/site.yml }]',
      '    on: [{ change: barn.x, run: provision }]',
      '  well:',
      '    on: [{ change: barn.x, run: [{ ansible: ansible/site.yml }] }]',
    );
    expect(reacting).toEqual([
      expect.stringMatching(/^6:nodes\.mill\.on\[0\]\.run: a reaction cannot run an ansible step \(mill's provision: has one\)/),
      expect.stringMatching(/^8:nodes\.well\.on\[0\]\.run: a reaction cannot run an ansible step: Ansible runs from the host/),
    ]);
  });
});
