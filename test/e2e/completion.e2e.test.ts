import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { rig, rigBin, useRig } from './helpers.js';

// Shell completion in bash, zsh and fish (issue 21, item 15): the scripts as `rig completion SHELL` prints them,
// calling `rig` from the PATH as they do for a user (after scripts/setup links /usr/local/bin/rig; here a link in a
// directory of the test's own, put first on the PATH). Each shell completes an option, an option's values, a file
// name, a rig and a node. The rig's name begins with a digit so that it sorts before other test files' rigs.
describe('shell completion', () => {
  const { name, dir } = useRig(
    '0cmp',
    (rigName) =>
      `name: ${rigName}\ndomain: village.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n` +
      `  silo.village.test:\n    mirrors: straleb.prod.example\n    roles: [db, primary]\n` +
      `  loft.village.test:\n    mirrors: kelda.prod.example\n    roles: [web]\n`,
    { 'rigs/demo.yaml': '# a rig file to complete\n' },
  );
  const bin = mkdtempSync(join(tmpdir(), 'rig-path-'));
  symlinkSync(rigBin, join(bin, 'rig'));
  const env = { PATH: `${bin}:${process.env.PATH}`, CI: 'true', TERM: 'xterm' };
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const sorted = (text: string) => text.split('\n').filter(Boolean).sort();

  /** bash: the completion function run with COMP_WORDS and COMP_CWORD set as readline sets them. */
  const bash = async (...words: string[]) => {
    const script = `eval "$(rig completion bash)"
      COMP_WORDS=(rig ${words.map(quote).join(' ')}); COMP_CWORD=${words.length}; _rig; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const run = await execa('bash', ['--norc', '--noprofile', '-c', script], { cwd: dir, env, reject: false });
    expect(run.stderr).toBe('');
    return sorted(run.stdout);
  };

  /** fish: complete -C asks fish's own completion machinery what it offers for a command line. */
  const fish = async (line: string) => {
    const run = await execa('fish', ['--no-config', '-c', `rig completion fish | source; complete -C ${quote(line)}`], {
      cwd: dir,
      env,
      reject: false,
    });
    expect(run.stderr).toBe('');
    return sorted(run.stdout).map((l) => l.split('\t')[0]);
  };

  it('bash completes options, option values, file names, rigs and nodes', async () => {
    expect(await bash('status', '--')).toEqual(['--help', '--json', '--name', '--watch']);
    expect(await bash('inventory', '--format', '')).toEqual(['ansible', 'hosts', 'json']);
    expect(await bash('graph', 'rig.yaml', '--format', '')).toEqual(['dot', 'mermaid']);
    expect(await bash('exec', '--name', name, '--role', '')).toEqual(['db', 'primary', 'web']);
    expect(await bash('provision', '--name', name, '--mirrors', '')).toEqual(['kelda.prod.example', 'straleb.prod.example']);
    expect(await bash('up', 'rigs/')).toEqual(['rigs/demo.yaml']);
    expect(await bash('logs', '--name', name.slice(0, -1))).toContain(name);
    expect(await bash('exec', '--name', name, 'si')).toEqual(['silo', 'silo.village.test']);
    expect(await bash('fa')).toEqual(['facts']);
    expect(await bash('up', '--ti')).toEqual(['--timeout']);
    expect(await bash('up', 'rig.yaml', '--timeout', '')).toEqual([]); // a duration: nothing to offer, not file names
    expect((await rig(['completion', 'tcsh'])).exitCode).toBe(2);
  });

  it('fish completes options, option values, file names, rigs and nodes', async () => {
    expect(await fish('rig status --')).toEqual(['--help', '--json', '--name', '--watch']);
    expect(await fish('rig inventory --format ')).toEqual(['ansible', 'hosts', 'json']);
    expect(await fish(`rig exec --name ${name} --role `)).toEqual(['db', 'primary', 'web']);
    expect(await fish(`rig provision --name ${name} --mirrors `)).toEqual(['kelda.prod.example', 'straleb.prod.example']);
    expect(await fish('rig up rigs/')).toEqual(['rigs/demo.yaml']);
    expect(await fish(`rig logs --name ${name.slice(0, -1)}`)).toContain(name);
    expect(await fish(`rig exec --name ${name} si`)).toEqual(['silo', 'silo.village.test']);
  });

  it('zsh loads the script without compinit (it runs compinit itself), and after compinit', async () => {
    const bare = await execa(
      'zsh',
      ['-f', '-c', 'eval "$(rig completion zsh)" && (( $+functions[compdef] )) && print -r -- "$_comps[rig]"'],
      {
        env,
        reject: false,
      },
    );
    expect(bare.stderr).toBe(''); // no "command not found: compdef"
    expect(bare.stdout.trim()).toBe('_rig');
    // With compinit run first, as in most .zshrc files; the completion function run with the words typed so far,
    // compadd (where zsh takes the offers, and keeps those that begin with what is typed) printing them all.
    const after = await execa(
      'zsh',
      [
        '-f',
        '-c',
        `autoload -Uz compinit; compinit -u; eval "$(rig completion zsh)"; compadd() { shift; print -l -- "$@"; }
        words=(rig exec --name ${name} si); CURRENT=5; _rig`,
      ],
      { env, reject: false },
    );
    expect(after.stderr).toBe('');
    expect(after.stdout.split('\n')).toEqual(['loft', 'loft.village.test', 'silo', 'silo.village.test']);
  });

  // Keys typed into a pseudo-terminal (util-linux script): each shell reads them as a person's, Tab included, and
  // completes with its own machinery (zsh's _files, bash's readline, fish's pager). rig runs for completion; the
  // command itself only says what it was given, so each GOT: line shows what Tab made of the line.
  const lines = [
    ['status --\t', 'status --'], // bash lists on a second Tab (added below); zsh and fish on the first
    ['up rigs/de\t', 'up rigs/demo.yaml'],
    ['inventory --format ho\t', 'inventory --format hosts'],
    [`exec --name ${name} --role pri\t`, `exec --name ${name} --role primary`],
    [`logs --name ${name.slice(0, -1)}\t`, `logs --name ${name}`],
    [`exec --name ${name} silo.v\t`, `exec --name ${name} silo.village.test`],
  ];
  const rc = {
    zsh: `rig() { if [[ $1 == __complete || $1 == completion ]]; then command rig "$@"; else print -r -- "GOT:$*"; fi }
eval "$(rig completion zsh)"\n`, // no compinit: the script runs it
    bash: `rig() { if [[ $1 == __complete || $1 == completion ]]; then command rig "$@"; else printf 'GOT:%s\\n' "$*"; fi }
eval "$(rig completion bash)"\n`,
    fish: `function rig; if contains -- $argv[1] __complete completion; command rig $argv; else; echo "GOT:$argv"; end; end
rig completion fish | source\n`,
  };
  const shells = { zsh: 'zsh -f -i', bash: 'bash --norc --noprofile -i', fish: 'fish -i --no-config' };

  it.each(Object.keys(shells) as Array<keyof typeof shells>)(
    'in an interactive %s, Tab lists the options and completes a file, a value, a rig and a node',
    async (shell) => {
      writeFileSync(join(dir, `rc.${shell}`), rc[shell]);
      const keys = lines.map(([typed], i) => `rig ${typed}${shell === 'bash' && i === 0 ? '\t' : ''}\n`);
      const input = `source ${join(dir, `rc.${shell}`)}\n${keys.join('')}exit\n`;
      const run = await execa('script', ['-qec', shells[shell], '/dev/null'], { input, cwd: dir, env, reject: false, timeout: 120_000 });
      const out = String(run.stdout);
      for (const [, got] of lines) expect(out, out).toContain(`GOT:${got}\r`);
      expect(out).toMatch(/--help\s+--json\s+--name\s+--watch/); // the list Tab showed for `rig status --`
      expect(out).not.toContain('command not found');
    },
  );
});
