import * as J from './json-schema.js';
import type { Says } from './json-schema.js';
import { STEP_EXAMPLE } from './schema-parts.js';

/** The rig file schema of what a node does: its provisioning steps and its reactions (on:). */

// Provisioning steps.

/** A file or directory a step names (load.ts checks that it exists, inside the rig file's directory). */
export const repoPath = (what: string, description: string, missing?: Says['missing']) =>
  J.string({
    description,
    minLength: 1,
    says: { expected: `the path of ${what}, relative to the rig file`, hint: STEP_EXAMPLE, missing },
  });

export const PuppetOptions = J.object(
  {
    manifest: repoPath('manifest', 'Manifest to apply.', {
      message: 'missing manifest:',
      hint: 'e.g. - puppet: { manifest: control-repo/manifests/site.pp }',
      at: 'parent',
    }),
    modulepath: repoPath('module path', 'Module directory.'),
    hiera_config: repoPath('hiera config', 'hiera.yaml to use.'),
  },
  { required: ['manifest'] },
);

export const AnsibleOptions = J.object(
  {
    playbook: repoPath('playbook', 'Playbook to run (its directory holds roles/, group_vars/ and host_vars/ as Ansible looks for them).', {
      message: 'missing playbook:',
      hint: 'e.g. - ansible: { playbook: ansible/site.yml }',
      at: 'parent',
    }),
  },
  { required: ['playbook'] },
);

export const STEP_KIND_SCHEMAS = {
  shell: J.string({
    description: 'An inline shell script.',
    pattern: '\\S',
    says: { expected: 'a shell script', hint: 'e.g. - shell: rig-fact set redis_role master' },
  }),
  script: repoPath('script', 'A script file to run.'),
  puppet: J.union([repoPath('manifest', 'Manifest to apply.'), PuppetOptions], {
    description: 'puppet apply: a manifest path, or a map with manifest: and optional modulepath: and hiera_config:.',
    says: { expected: 'the path of manifest, relative to the rig file, or a map with manifest:', hint: STEP_EXAMPLE },
  }),
  ansible: J.union([repoPath('playbook', 'Playbook to run.'), AnsibleOptions], {
    description: 'ansible-playbook, run from the host against this node over the rig inventory: a playbook path, or a map with playbook:.',
    says: {
      expected: 'the path of a playbook, relative to the rig file, or a map with playbook:',
      hint: 'e.g. - ansible: { playbook: ansible/site.yml }',
    },
  }),
};
// Update steps (rig update): shell commands run in the node, and playbooks run from the host.

const UPDATE_HINT = 'e.g. update: ["apt-get install -y --only-upgrade redis-server", { ansible: ansible/upgrade.yml }]';
const updateCommand = J.string({
  description: 'A shell command, run in the node.',
  pattern: '\\S',
  says: { expected: 'a shell command', hint: UPDATE_HINT },
});
const UpdateAnsible = J.object(
  {
    ansible: {
      ...STEP_KIND_SCHEMAS.ansible,
      says: { ...STEP_KIND_SCHEMAS.ansible.says, missing: { message: 'missing ansible:', hint: UPDATE_HINT, at: 'parent' } },
    } as typeof STEP_KIND_SCHEMAS.ansible,
  },
  {
    required: ['ansible'],
    description: "ansible-playbook, run from the host against the batch's nodes over the rig inventory, as the provisioning step runs it.",
    says: {
      expected: 'a shell command or a map with ansible:',
      hint: UPDATE_HINT,
      unknownKey: () => '; a command is a string in the list: - systemctl restart app',
    },
  },
);
/** update: one shell command, or a list of shell commands and ansible: steps, run in order. */
export const updateSteps = (description: string) =>
  J.union(
    [
      updateCommand,
      J.array(J.union([updateCommand, UpdateAnsible], { says: { expected: 'a shell command or a map with ansible:', hint: UPDATE_HINT } })),
    ],
    { description, says: { expected: 'a shell command or a list of shell commands and ansible: steps', hint: UPDATE_HINT } },
  );

export const STEP_KINDS = Object.keys(STEP_KIND_SCHEMAS) as (keyof typeof STEP_KIND_SCHEMAS)[];
/** Beside shell: or script:, the exit code by which the step says it changed something (for --idempotent). */
export const CHANGED_EXIT = 'changed_exit';

export const kindsIn = (step: unknown) => STEP_KINDS.filter((k) => Object.hasOwn(step as object, k));
export const pairs = STEP_KINDS.flatMap((a, i) => STEP_KINDS.slice(i + 1).map((b) => [a, b]));
/** changed_exit where it may not be. */
export const noChangedExit = (message: string, hint: string) => ({
  properties: { [CHANGED_EXIT]: { not: {}, says: { invalid: () => message, invalidHint: hint, at: 'key' } satisfies Says } },
});

export const Step = J.object(
  {
    ...STEP_KIND_SCHEMAS,
    [CHANGED_EXIT]: J.integer({
      description:
        'The exit code by which a shell or script step says it changed something (not a failure; --idempotent fails on it in the second run).',
      minimum: 1,
      maximum: 255,
      says: {
        expected: 'an exit code from 1 to 255',
        hint: 'e.g. changed_exit: 2 (the step exits 2 when it changed something, 0 when it did not)',
      },
    }),
  },
  {
    description: `One provisioning step: a map with exactly one of ${STEP_KINDS.join(', ')} (shell: and script: may add changed_exit:).`,
    minProperties: 1,
    says: {
      expected: `a map with one of ${STEP_KINDS.join(', ')}`,
      hint: STEP_EXAMPLE,
      invalid: () => 'is an empty step',
      invalidHint: `give one of ${STEP_KINDS.map((k) => `${k}:`).join(', ')} ${STEP_EXAMPLE}`,
    },
    allOf: [
      {
        not: { type: 'object', anyOf: pairs.map((pair) => ({ required: pair })) },
        says: {
          invalid: (step) => `a step does one thing, but this one has ${kindsIn(step).join(' and ')}`,
          invalidHint: (step) =>
            `split it into one step per kind: ${kindsIn(step)
              .map((k) => `- ${k}: ...`)
              .join(', then ')}`,
          at: 'key',
        } satisfies Says,
      },
      {
        if: { required: ['puppet'] },
        then: noChangedExit(
          'is for shell: and script: steps',
          'leave it out: a puppet step says what it changed itself (--detailed-exitcodes)',
        ),
      },
      {
        if: { required: ['ansible'] },
        then: noChangedExit(
          'is for shell: and script: steps',
          "leave it out: an ansible step says what it changed itself (its recap's changed=)",
        ),
      },
      {
        if: { not: { anyOf: STEP_KINDS.map((k) => ({ required: [k] })) } },
        then: noChangedExit('needs a shell: or script: step beside it', 'e.g. - { shell: ./converge.sh, changed_exit: 2 }'),
      },
    ],
  },
);

export const steps = (description: string) => J.array(Step, { description, says: { expected: 'a list of steps', hint: STEP_EXAMPLE } });

// Reactions (on:): what a node does once ready, when a peer changes; its agent follows the peer's keys in etcd.

export const ON_EXAMPLE =
  'e.g.\n      on:\n        - change: barn.redis_run_id\n          run: provision\n        - stage: barn\n          run: [{ shell: ./failover.sh }]';
export const TRIGGERS = ['change', 'stage'] as const;
export const Reaction = J.object(
  {
    change: J.string({
      description: "A peer's fact, as node.fact: the reaction runs when it is written with a new value.",
      pattern: '\\S',
      says: { expected: 'node.fact', hint: 'e.g. change: barn.redis_run_id' },
    }),
    stage: J.string({
      description: 'A peer (full or short name): the reaction runs when its stage changes (ready, failed, lost when its alive key goes).',
      pattern: '\\S',
      says: { expected: 'a node name', hint: 'e.g. stage: barn' },
    }),
    run: J.union(
      [
        J.enumOf(['provision'] as const, {
          says: { expected: 'provision or a list of steps', hint: ON_EXAMPLE, invalid: () => 'must be provision or a list of steps' },
        }),
        steps('Steps to run (shell, script, puppet), as provision: takes them.'),
      ],
      {
        description: 'What the node runs: provision (its own provisioning steps again), or a list of steps.',
        says: { expected: 'provision or a list of steps', hint: ON_EXAMPLE, missing: { message: 'missing run:', at: 'parent' } },
      },
    ),
  },
  {
    required: ['run'],
    description: 'One reaction: change: node.fact or stage: node, and run:.',
    says: { expected: 'a map with change: or stage:, and run:', hint: ON_EXAMPLE },
    allOf: [
      {
        not: { required: [...TRIGGERS] },
        says: {
          invalid: () => 'a reaction reacts to one thing, but this one has change and stage',
          invalidHint: 'split it into two reactions, each with its own run:',
        } satisfies Says,
      },
      {
        not: { not: { anyOf: TRIGGERS.map((k) => ({ required: [k] })) } },
        says: {
          invalid: () => 'a reaction needs what it reacts to: change: node.fact or stage: node',
          invalidHint: ON_EXAMPLE,
        } satisfies Says,
      },
    ],
  },
);
export const reactions = (description: string) =>
  J.array(Reaction, { description, says: { expected: 'a list of reactions', hint: ON_EXAMPLE } });
