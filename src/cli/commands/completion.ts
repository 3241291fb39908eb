import type { Command, Option } from 'commander';
import { listNodes } from '../../engine/nodes.js';
import type { Engine } from '../../engine/context.js';
import { ExitCode, RigError } from '../../errors.js';
import type { NodeInstance } from '../../runtime/backend.js';
import { createEngine, settings } from '../engine.js';
import { OPTION_VALUES, program } from '../program.js';
import { upRigNames } from '../which-rig.js';

/**
 * Shell completion: the script asks `rig __complete -- WORDS...` what to offer after the words typed so far (the
 * last one is being typed), so what it offers is always what is there: commands, a command's options, an option's
 * values (formats, the rigs that are up, their nodes' roles and the live nodes they mirror), nodes, and file names.
 * A first line `:files` asks the shell for its own file-name completion instead.
 */
export function completion(shell: string): void {
  const script = SCRIPTS[shell];
  if (!script)
    throw new RigError(
      `No completion for shell ${JSON.stringify(shell)}.`,
      'rig completion bash, rig completion zsh or rig completion fish',
      ExitCode.badInput,
    );
  process.stdout.write(script);
}

/** The line that asks the shell for file names. */
export const FILES = ':files';

/** rig's own options, which may come before the command. */
const GLOBAL = ['-q', '--quiet', '--verbose'];

/** Commands whose arguments are nodes of a rig that is up: all of them, or only the first. */
const NODE_ARGS: Record<string, 'all' | 'first'> = {
  facts: 'first',
  exec: 'first',
  shell: 'first',
  logs: 'all',
  provision: 'all',
  update: 'all',
  stop: 'first',
  start: 'first',
  kill: 'first',
  pause: 'first',
  unpause: 'first',
  replace: 'first',
  netem: 'first',
  partition: 'all',
  heal: 'all',
};
/** Commands whose first argument is a rig file. */
const FILE_ARGS = ['up', 'check', 'graph', 'run', 'down', 'test'];

/** What to offer after the words typed so far (the last one is being typed). */
export async function complete(words: string[]): Promise<void> {
  process.stdout.write((await offers(words)).map((o) => `${o}\n`).join(''));
}

async function offers(typed: string[]): Promise<string[]> {
  const words = typed.slice(typed.findIndex((w) => !GLOBAL.includes(w)));
  const commands = program().commands.filter((c) => !c.name().startsWith('__'));
  let command = commands.find((c) => c.name() === words[0]);
  if (!command || words.length < 2) return words.at(-1)?.startsWith('-') ? GLOBAL : commands.map((c) => c.name());
  let rest = words.slice(1);
  const sub = command.commands.find((c) => c.name() === rest[0]);
  if (command.commands.length && !(sub && rest.length > 1)) return command.commands.map((c) => c.name());
  if (sub) [command, rest] = [sub, rest.slice(1)];
  const { option, positional, afterDashes } = where(command, rest);
  const current = rest.at(-1) ?? '';
  if (afterDashes) return command.name() === 'run' ? [FILES] : []; // a command on the host (run), or in a node
  if (option) return optionValues(command.name(), option, nameIn(rest));
  if (current.startsWith('-')) return [...command.options.flatMap((o) => [o.long, o.short]), '--help'].filter((f): f is string => !!f);
  if (NODE_ARGS[command.name()] === 'all' || (NODE_ARGS[command.name()] === 'first' && positional === 0)) return nodeNames(nameIn(rest));
  if (FILE_ARGS.includes(command.name()) && positional === 0) return [FILES];
  if (command.name() === 'completion' && positional === 0) return Object.keys(SCRIPTS);
  return [];
}

/**
 * Where the word being typed (the last) stands: the value of an option (which one), after `--`, or the how-manyth
 * argument.
 */
function where(command: Command, rest: string[]): { option?: Option; positional: number; afterDashes: boolean } {
  let positional = 0;
  for (let i = 0; i < rest.length - 1; i++) {
    const word = rest[i];
    if (word === '--') return { positional, afterDashes: true };
    const option =
      word.startsWith('-') && !word.includes('=') ? command.options.find((o) => o.long === word || o.short === word) : undefined;
    if (option?.required || option?.optional) {
      if (i === rest.length - 2) return { option, positional, afterDashes: false };
      i++; // its value
    } else if (!word.startsWith('-')) positional++;
  }
  return { positional, afterDashes: false };
}

async function optionValues(command: string, option: Option, rig?: string): Promise<string[]> {
  const fixed = OPTION_VALUES[`${command} ${option.long}`];
  if (fixed) return [...fixed];
  switch (option.long) {
    case '--name':
      return withEngine((engine) => upRigNames(engine));
    case '--role':
      return withEngine(async (engine) => {
        const nodes = await listNodes(engine, rig, { lenient: true });
        return [...new Set(nodes.flatMap((n) => n.roles ?? []))].sort();
      });
    case '--mirrors':
      return withEngine(async (engine) => liveNodes(await listNodes(engine, rig, { lenient: true })));
    case '--junit':
      return [FILES];
    default:
      return [];
  }
}

/** The live nodes the nodes mirror (what --mirrors takes). */
const liveNodes = (nodes: NodeInstance[]) => [...new Set(nodes.map((n) => n.mirrors).filter((m): m is string => !!m))].sort();

/** The rig named by --name among the words, else RIG_NAME; undefined means every rig that is up. */
const nameIn = (words: string[]) => {
  const i = words.indexOf('--name');
  return i >= 0 && i < words.length - 1 ? words[i + 1] : settings().rigName;
};

/** Completion never fails: no engine, no rig or an etcd that does not answer offers nothing. */
async function withEngine(fn: (engine: Engine) => Promise<string[]>): Promise<string[]> {
  const engine = await createEngine().catch(() => undefined);
  return engine ? fn(engine).catch(() => []) : [];
}

async function nodeNames(rig?: string): Promise<string[]> {
  return withEngine(async (engine) => {
    const nodes = await listNodes(engine, rig, { lenient: true });
    return [...new Set(nodes.flatMap((n) => [n.node.split('.')[0], n.node]))].sort();
  });
}

// The scripts pass the words after `--`, so that words such as `--` and `--help` reach __complete as typed.
const SCRIPTS: Record<string, string> = {
  bash: `# rig completion for bash: eval "$(rig completion bash)" in ~/.bashrc
_rig() {
  local IFS=$'\\n' cur=\${COMP_WORDS[COMP_CWORD]}
  local -a offers
  offers=($(rig __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
  if [[ \${offers[0]} == ${FILES} ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "\${offers[*]}" -- "$cur"))
  fi
}
complete -F _rig rig
`,
  zsh: `# rig completion for zsh: eval "$(rig completion zsh)" in ~/.zshrc (it runs compinit if that has not run)
_rig() {
  local -a offers
  offers=(\${(f)"$(rig __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)"})
  if [[ \${offers[1]} == ${FILES} ]]; then
    _files
  else
    compadd -- "\${offers[@]}"
  fi
}
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit -i; }
compdef _rig rig
`,
  fish: `# rig completion for fish: rig completion fish | source (in ~/.config/fish/config.fish)
function __rig_complete
    set -l current (commandline -ct)
    set -l offers (rig __complete -- (commandline -opc)[2..-1] "$current" 2>/dev/null)
    if test "$offers[1]" = ${FILES}
        __fish_complete_path "$current"
    else
        printf '%s\\n' $offers
    end
end
complete -c rig -f -a '(__rig_complete)'
`,
};
