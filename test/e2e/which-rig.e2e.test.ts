import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

describe('which rig a command means, with two rigs up', () => {
  const one = uniqueName('whicha');
  const two = uniqueName('whichb');
  const rigFile = (name: string) =>
    `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  barn.village.test:\n    facts: { rig_is: ${name} }\n`;
  const first = fixtureDir(rigFile(one));
  const second = fixtureDir(rigFile(two));

  beforeAll(async () => {
    for (const f of [first, second]) {
      const up = await rig(['up', 'rig.yaml'], { cwd: f.dir });
      expect(up.exitCode, up.all).toBe(0);
    }
  });

  afterAll(async () => {
    await Promise.all([rig(['down', '--name', one]), rig(['down', '--name', two])]);
    first.cleanup();
    second.cleanup();
    expect([...(await leftovers(one)), ...(await leftovers(two))]).toEqual([]);
  });

  it('takes RIG_NAME, as rig run sets it, for facts, exec, logs and test', async () => {
    const env = { RIG_NAME: two };
    expect((await rig(['facts', 'barn', 'rig_is'], { env })).stdout.trim()).toBe(two);
    expect((await rig(['exec', 'barn', '--', '/.rig/bin/rig-fact', 'get', 'barn', 'rig_is'], { env })).stdout.trim()).toBe(two);
    expect((await rig(['logs', 'barn'], { env })).stdout).toContain('ready: barn.village.test');
    const test = await rig(['test', '--json'], { env });
    expect(test.exitCode, test.all).toBe(0);
  });

  it('takes the rig file of the current directory when several rigs have the node', async () => {
    expect((await rig(['facts', 'barn', 'rig_is'], { cwd: first.dir })).stdout.trim()).toBe(one);
  });

  it('lists the rigs when nothing says which', async () => {
    const out = await rig(['facts', 'barn', 'rig_is'], { cwd: '/' });
    expect(out.exitCode).toBe(2);
    expect(out.stderr).toMatch(new RegExp(`barn names nodes in \\d+ rigs: .*${one}.*`));
    expect(out.stderr).toContain(two);
    expect(out.stderr).toContain('--name RIG (or set RIG_NAME)');
  });

  it('rig ls prints a line per rig', async () => {
    const ls = JSON.parse((await rig(['ls', '--json'])).stdout) as Array<{
      name: string;
      nodes: number;
      ready: number;
      failed: number;
      sidecar: string;
    }>;
    for (const name of [one, two])
      expect(ls.find((r) => r.name === name)).toMatchObject({ nodes: 1, ready: 1, failed: 0, sidecar: 'running' });
    const table = (await rig(['ls'])).stdout;
    expect(table).toMatch(/^NAME\s+NODES\s+READY\s+FAILED\s+SUBNET\s+RIG FILE\s+AGE/);
    expect(table).toMatch(new RegExp(`^${one}\\s+1\\s+1\\s+0\\s+10\\.\\d+\\.\\d+\\.0/24\\s+\\S*rig\\.yaml\\s+\\d+[smhd]$`, 'm'));
  });
});

describe('shell completion', () => {
  const name = uniqueName('compl');
  const fixture = fixtureDir(
    `name: ${name}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  silo.village.test:\n`,
  );

  afterAll(async () => {
    await rig(['down', '--name', name]);
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('completes commands, options, rig names and node names in bash', async () => {
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir });
    expect(up.exitCode, up.all).toBe(0);
    const { execa } = await import('execa');
    const { rigBin } = await import('./helpers.js');
    const complete = async (...words: string[]) => {
      const script = `eval "$(node ${rigBin} completion bash)"; rig() { node ${rigBin} "$@"; }
        COMP_WORDS=(rig ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _rig; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await execa('bash', ['-c', script])).stdout.split('\n');
    };
    expect(await complete('fa')).toEqual(['facts']);
    expect(await complete('up', '--ti')).toEqual(['--timeout']);
    expect(await complete('logs', '--name', name.slice(0, -2))).toContain(name);
    expect(await complete('exec', '--name', name, 'si')).toEqual(['silo', 'silo.village.test']);
    expect((await rig(['completion', 'tcsh'])).exitCode).toBe(2);
  });

  it('loads in zsh (with compinit) and in fish without errors, and completes node names there too', async () => {
    const { execa } = await import('execa');
    const { rigBin } = await import('./helpers.js');
    // zsh: the script loaded as a user's .zshrc would, the completion function run with the words typed so far;
    // compadd is where zsh would take the offers, so it prints them here.
    const zsh = await execa(
      'zsh',
      [
        '-f',
        '-c',
        `autoload -U compinit; compinit -u; rig() { node ${rigBin} "$@"; }
      eval "$(rig completion zsh)"; compadd() { shift; print -l -- "$@"; }
      words=(rig exec --name ${name} si); CURRENT=5; _rig`,
      ],
      { reject: false, all: true },
    );
    expect(zsh.exitCode, zsh.all).toBe(0);
    expect(zsh.stderr).toBe('');
    expect(zsh.stdout.split('\n')).toEqual(['silo', 'silo.village.test']);
    // fish: complete -C asks fish's own completion machinery for a command line.
    const fish = await execa(
      'fish',
      ['-c', `function rig; node ${rigBin} $argv; end; rig completion fish | source; complete -C'rig exec --name ${name} si'`],
      { reject: false, all: true },
    );
    expect(fish.exitCode, fish.all).toBe(0);
    expect(fish.stderr).toBe('');
    expect(fish.stdout.split('\n').map((l) => l.split('\t')[0])).toEqual(['silo', 'silo.village.test']);
  });

  it('completes a node name on Tab in an interactive zsh and fish, in a real terminal', async () => {
    const { execa } = await import('execa');
    const { rigBin } = await import('./helpers.js');
    const dir = fixture.dir;
    const { writeFileSync } = await import('node:fs');
    // rig runs for completion; the command itself only says what it was given, so the line shows what Tab made.
    writeFileSync(
      `${dir}/zshrc`,
      `autoload -U compinit; compinit -u
rig() { if [[ $1 == __complete || $1 == completion ]]; then node ${rigBin} "$@"; else print -r -- "GOT:$*"; fi }
eval "$(rig completion zsh)"\n`,
    );
    writeFileSync(
      `${dir}/rc.fish`,
      `function rig; if contains -- $argv[1] __complete completion; node ${rigBin} $argv; else; echo "GOT:$argv"; end; end
rig completion fish | source\n`,
    );
    // Keys typed into a pseudo-terminal (util-linux script): the shell reads them as a person's, Tab included.
    const typed = async (shell: string, rc: string) => {
      const input = `source ${dir}/${rc}\nrig exec --name ${name} silo.v\t\nexit\n`;
      const run = await execa('script', ['-qec', shell, '/dev/null'], { input, reject: false, env: { TERM: 'xterm', CI: 'true' } });
      return String(run.stdout);
    };
    expect(await typed('zsh -f -i', 'zshrc')).toContain(`GOT:exec --name ${name} silo.village.test`);
    expect(await typed('fish -i --no-config', 'rc.fish')).toContain(`GOT:exec --name ${name} silo.village.test`);
  });
});
