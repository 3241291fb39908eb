import { rigNames } from '../../engine/down.js';
import { listNodes } from '../../engine/nodes.js';
import { ExitCode, RigError } from '../../errors.js';
import { createEngine, settings } from '../engine.js';
import { program } from '../program.js';

/**
 * Shell completion: the script asks `rig __complete` for commands, their options, the rigs that are up and their
 * nodes, so what it offers is always what is there.
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

/** What to offer after the words typed so far (the last one is being typed). */
export async function complete(words: string[]): Promise<void> {
  const commands = program().commands.filter((c) => !c.name().startsWith('__'));
  const [first, ...rest] = words;
  const previous = rest.at(-2);
  const command = commands.find((c) => c.name() === first);
  let offers: string[];
  if (!command || !rest.length) offers = commands.map((c) => c.name());
  else if (previous === '--name') offers = await upRigs();
  else if ((rest.at(-1) ?? '').startsWith('-')) offers = command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f));
  else if (['facts', 'logs', 'exec', 'shell'].includes(command.name())) offers = await nodesOf(nameIn(rest));
  else offers = [];
  process.stdout.write(offers.map((o) => `${o}\n`).join(''));
}

const nameIn = (words: string[]) => {
  const i = words.indexOf('--name');
  return i >= 0 ? words[i + 1] : settings().rigName;
};

async function upRigs(): Promise<string[]> {
  return rigNames(await createEngine()).catch(() => []);
}

async function nodesOf(rig?: string): Promise<string[]> {
  const engine = await createEngine().catch(() => undefined);
  if (!engine) return [];
  const nodes = await listNodes(engine, rig, { lenient: true });
  return [...new Set(nodes.flatMap((n) => [n.node.split('.')[0], n.node]))].sort();
}

const SCRIPTS: Record<string, string> = {
  bash: `# rig completion for bash: eval "$(rig completion bash)"
_rig() {
  local IFS=$'\\n'
  COMPREPLY=($(compgen -W "$(rig __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _rig rig
`,
  zsh: `# rig completion for zsh: eval "$(rig completion zsh)"
_rig() {
  local -a offers
  offers=("\${(@f)$(rig __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -- $offers
}
compdef _rig rig
`,
  fish: `# rig completion for fish: rig completion fish | source
complete -c rig -f -a '(rig __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`,
};
