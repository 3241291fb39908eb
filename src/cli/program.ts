import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { packagePath } from '../package-root.js';

const version = (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;

/** Commands load their modules when they run, so `rig --version` and `rig --help` start fast. */
export function program(): Command {
  const rig = new Command('rig')
    .description("Throwaway multi-machine test rigs out of containers, each node mirroring a live node's configuration.")
    .version(version)
    .configureOutput({ outputError: (text, write) => write(text) })
    .option('-q, --quiet', 'say nothing but results, warnings and errors')
    .option('--verbose', 'also say what rig asks the engine and the host, and how long each took');
  rig.exitOverride();
  // Before any command runs: how it talks (--json of the command, --quiet/--verbose of rig), and colour.
  rig.hook('preAction', async (root, command) => {
    const { configureOutput, applyColourSettings } = await import('./output.js');
    const { quiet, verbose } = root.opts<{ quiet?: boolean; verbose?: boolean }>();
    configureOutput({ json: !!command.opts<{ json?: boolean }>().json, quiet: !!quiet, verbose: !!verbose });
    await applyColourSettings();
  });

  lifecycleCommands(rig);
  inspectCommands(rig);
  nodeCommands(rig);
  drillCommands(rig);
  toolCommands(rig);

  for (const [command, lines] of Object.entries(EXAMPLES)) {
    rig.commands.find((c) => c.name() === command)?.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
  }
  // A usage error shows the one-line usage and where to read more, not the whole help.
  const teach = (command: Command, path: string) => {
    command.showHelpAfterError(`usage: ${path} ${command.usage()}\n(more: ${path} --help)`);
    command.commands.forEach((sub) => teach(sub, `${path} ${sub.name()}`));
  };
  teach(rig, 'rig');
  return rig;
}

/** Commands that bring rigs up and down, and apply edits to a rig that is up. */
function lifecycleCommands(rig: Command): void {
  rig
    .command('up')
    .description('bring a rig up: link live configs, start dnsmasq and etcd, start every node, wait until each is ready')
    .argument('<rigfile>', 'the rig file (YAML)')
    .option('--name <name>', 'rig name (default: name: in the file, else the file name)')
    .option('--timeout <duration>', 'how long every node has to become ready, provisioning included (e.g. 90s, 10m)', '5m')
    .option('--wait', 'return only when every node is ready or one has failed (the default)')
    .option('--no-wait', 'return once every node is started')
    .option('--keep-on-failure', 'keep what was made when up fails, to look at it')
    .option('--idempotent', "run each node's steps twice: the second run must change nothing")
    .option('--watch', 'then watch its files like rig watch; Ctrl-C takes the rig down')
    .option('--recreate', 'if the rig is up and its rig file changed, take it down and bring it up anew')
    .option('--dry-run', 'print the plan and make nothing')
    .option('--json', 'progress as JSON lines on stderr, the result as JSON on stdout')
    .action(async (file, flags) => (await import('./commands/up.js')).up(file, flags));

  rig
    .command('provision')
    .description("run the nodes' steps again in a rig that is up (edits are seen at once), then their validate commands")
    .argument('[nodes...]', 'nodes to provision (FQDN or short name; default: all), in the order of their needs')
    .option('--mirrors <live>', 'the nodes that mirror this live node (an edit to its hiera file reaches them)')
    .option('--name <name>', "the rig (default: RIG_NAME, the only rig up, or ./rig.yaml's)")
    .option('--idempotent', 'apply twice: the second run must change nothing, else show what changed')
    .option('--json', 'print the results as JSON')
    .action(async (nodes, flags) => (await import('./commands/provision.js')).provision(nodes, flags));

  rig
    .command('watch')
    .description("on every saved change to the rig's files, provision and validate the nodes it affects, one verdict line per change")
    .option('--name <name>', "the rig (default: RIG_NAME, the only rig up, or ./rig.yaml's)")
    .option('--json', 'one JSON line per verdict')
    .action(async (flags) => (await import('./commands/rig-watch.js')).watchRig(flags));

  rig
    .command('update')
    .description(
      "a rolling update: each node's update: steps (commands in the node, ansible: playbooks from the host, one run per batch), then its validate: commands, N nodes at a time, stopping at the first failure",
    )
    .argument('[nodes...]', 'nodes to update, in this order (default: every node that declares update:)')
    .option('--mirrors <live>', 'the nodes that mirror this live node')
    .option('--batch <n>', 'how many nodes at a time', '1')
    .option('--name <name>', "the rig (default: RIG_NAME, the only rig up, or ./rig.yaml's)")
    .option('--json', 'print the results as JSON')
    .action(async (nodes, flags) => (await import('./commands/update.js')).update(nodes, flags));

  rig
    .command('down')
    .description('remove a rig: every container, network, lease, etcd key and symlink it made, and nothing else')
    .argument('[rigfile]', 'the rig file the rig came from')
    .option('--name <name>', "the rig's name")
    .option('--all', 'remove every rig')
    .option('--json', 'print what was removed as JSON')
    .action(async (file, flags) => (await import('./commands/down.js')).down(file, flags));
}

/** Commands that look at rigs and what their nodes published. */
function inspectCommands(rig: Command): void {
  rig
    .command('status')
    .description('the rigs that are up: each node with its address, the live node it mirrors and its stage')
    .option('--name <name>', 'only this rig')
    .option('--watch', "follow the nodes' stages as they change (an etcd watch), until Ctrl-C or the rig is gone")
    .option('--json', 'print as JSON (with --watch: one JSON line per change)')
    .action(async (flags) =>
      flags.watch ? (await import('./commands/watch.js')).watchStatus(flags) : (await import('./commands/status.js')).status(flags),
    );

  rig
    .command('check')
    .description(
      'how faithful a rig is to production, making nothing: every live host name its config trees name, and the rig node that answers for it',
    )
    .argument('<rigfile>', 'the rig file (YAML)')
    .option('--name <name>', 'rig name (default: name: in the file, else the file name)')
    .option('--json', 'print as JSON')
    .action(async (file, flags) => (await import('./commands/check.js')).check(file, flags));

  rig
    .command('ls')
    .description('one line per rig that is up: its nodes, how many are ready or failed, subnet, rig file, age')
    .option('--json', 'print as JSON')
    .action(async (flags) => (await import('./commands/ls.js')).ls(flags));

  rig
    .command('graph')
    .description("print the rig's dependency graph (needs:) as Graphviz DOT or Mermaid")
    .argument('<rigfile>', 'the rig file (YAML)')
    .option('--format <format>', 'dot or mermaid', 'dot')
    .action(async (file, flags) => (await import('./commands/graph.js')).graph(file, flags));

  rig
    .command('facts')
    .description("a node's facts, as it published them to etcd")
    .argument('<node>', 'the node (FQDN or short name)')
    .argument('[fact]', "print only this fact's value")
    .option('--name <name>', "the rig, when several are up (default: RIG_NAME, else the only rig up, else ./rig.yaml's)")
    .option('--json', 'print as JSON')
    .option('--yaml', 'print as YAML')
    .action(async (node, fact, flags) => (await import('./commands/facts.js')).facts(node, fact, flags));

  rig
    .command('trace')
    .description("what happened in a rig and when: each node's stages, who waited on whom, drills, the critical path of the last up")
    .option('--name <name>', "the rig (default: RIG_NAME, else the only rig up, else ./rig.yaml's)")
    .option('--format <format>', 'text (a timeline), json, or chrome (Trace Event JSON for Perfetto and chrome://tracing)', 'text')
    .option('-o, --output <file>', 'write it to this file instead of stdout')
    .action(async (flags) => (await import('./commands/trace.js')).trace(flags));
}

const RIG_OPTION = 'the rig, when several are up (default: RIG_NAME, else the only rig up, else the rig that has the node)';

/** Failure drills on a rig that is up, each recorded as an event in its etcd. */
function drillCommands(rig: Command): void {
  const power: Array<[string, string]> = [
    ['stop', "stop a node's container (SIGTERM, as a machine shuts down); rig start brings it back"],
    ['start', 'start a stopped node again: wired to the rig bridge, its address leased again, until it is ready'],
    ['kill', "kill a node's container at once (SIGKILL: a crash, nothing shut down); rig start brings it back"],
    ['pause', 'freeze a node: its processes stop where they are and it answers nothing (its peers see it as lost)'],
    ['unpause', 'thaw a paused node'],
  ];
  for (const [action, description] of power) {
    rig
      .command(action)
      .description(description)
      .argument('<node>', 'the node (FQDN or short name)')
      .option('--name <name>', RIG_OPTION)
      .option('--timeout <duration>', 'how long a started node has to be ready again (e.g. 90s)', '5m')
      .action(async (node, flags) => (await import('./commands/drills.js')).power(action as 'stop', node, flags));
  }
  rig
    .command('replace')
    .description('make a node again, as a host is redeployed: a fresh container from its settings, provisioned again')
    .argument('<node>', 'the node (FQDN or short name)')
    .option('--new-address', 'bring it back at another address of the rig subnet (DNS, DHCP and its port guard follow)')
    .option('--name <name>', RIG_OPTION)
    .option('--timeout <duration>', 'how long the new node has to be ready (e.g. 90s)', '5m')
    .option('--json', 'progress as JSON lines on stderr, the result as JSON on stdout')
    .action(async (node, flags) => (await import('./commands/drills.js')).replace(node, flags));
  rig
    .command('partition')
    .description('cut the given nodes apart, every pair both ways; each keeps its link to the sidecar (DNS, DHCP, etcd)')
    .argument('<nodes...>', 'two or more nodes (FQDN or short name)')
    .option('--name <name>', RIG_OPTION)
    .action(async (nodes, flags) => (await import('./commands/drills.js')).partition(nodes, flags));
  rig
    .command('heal')
    .description('lift the cuts between the given nodes (none given: every cut of the rig)')
    .argument('[nodes...]', 'the nodes (FQDN or short name)')
    .option('--name <name>', RIG_OPTION)
    .action(async (nodes, flags) => (await import('./commands/drills.js')).heal(nodes, flags));
  rig
    .command('netem')
    .description("impair a node's link: drop a share of what it sends (--loss), delay what it receives (--delay, needs netem)")
    .argument('<node>', 'the node (FQDN or short name)')
    .option('--loss <percent>', 'drop this share of the frames it sends, 0 to 100 (e.g. 5%)')
    .option('--delay <duration>', "delay what it receives (e.g. 200ms); needs the kernel's netem qdisc (rig doctor)")
    .option('--clear', 'remove its loss and delay')
    .option('--name <name>', RIG_OPTION)
    .action(async (node, flags) => (await import('./commands/drills.js')).netem(node, flags));
}

/** Commands that work in and with the nodes. */
function nodeCommands(rig: Command): void {
  rig
    .command('logs')
    .description("nodes' logs (their agents: DHCP, facts, stages, steps); no node: all of the rig's, each line after its node's name")
    .argument('[nodes...]', 'the nodes (FQDN or short name)')
    .option('--name <name>', "the rig, when several are up (default: RIG_NAME, else the only rig up, else ./rig.yaml's)")
    .option('-f, --follow', 'follow: go on printing what comes, until Ctrl-C or the node stops')
    .option('--tail <lines>', 'only the last lines')
    .option('--since <when>', 'only since then: a duration back from now (10m) or a time (2026-11-23T10:00:00Z)')
    .option('--timestamps', 'each line with its time')
    .option('--sidecar', "the rig's dnsmasq and etcd (with nodes named: as well)")
    .action(async (nodes, flags) => (await import('./commands/node.js')).logs(nodes, flags));

  rig
    .command('exec')
    .description('run a command inside a node (no command: a login shell), its output streamed, exiting with its exit code')
    .argument('<node>', 'the node (FQDN or short name)')
    .argument('[command...]', 'the command, after --')
    .option('--name <name>', "the rig, when several are up (default: RIG_NAME, else the only rig up, else ./rig.yaml's)")
    .option('-i, --interactive', 'pass stdin to the command (default when stdin is a terminal)')
    .option('--no-interactive', 'do not pass stdin')
    .option('-t, --tty', 'give the command a terminal (default when stdin is a terminal)')
    .option('--no-tty', 'no terminal: stdout and stderr apart')
    .option('--all', 'run on every node of the rig at once, each line after its node (then there is no <node>)')
    .option('--role <role>', 'run on every node with this role at once, each line after its node')
    .action(async (node, command, flags) => (await import('./commands/node.js')).exec(node, command, flags));

  rig
    .command('shell')
    .description('a login shell in a node (rig exec NODE with no command)')
    .argument('<node>', 'the node (FQDN or short name)')
    .option('--name <name>', "the rig, when several are up (default: RIG_NAME, else the only rig up, else ./rig.yaml's)")
    .option('-i, --interactive', 'pass stdin to the shell (default when stdin is a terminal)')
    .option('-t, --tty', 'give the shell a terminal (default when stdin is a terminal)')
    .option('--no-tty', 'no terminal')
    .action(async (node, flags) => (await import('./commands/node.js')).exec(node, [], flags));

  rig
    .command('run')
    .description("bring a rig up, run a command against it, then always take it down; exits with the command's code")
    .argument('<rigfile>', 'the rig file (YAML)')
    .argument('[command...]', 'the command, after --; it gets RIG_NAME, RIG_DNS, RIG_ETCD, RIG_NODES and RIG_<NODE>_IP')
    .option('--name <name>', 'rig name (two runs of one rig file at once need different names)')
    .option('--on <node>', 'run the command inside this node instead of on the host')
    .option('--test', "run the nodes' validate commands (rig test) as the command")
    .option('--junit <file>', 'with --test: write JUnit XML here')
    .option('--test-timeout <duration>', 'with --test: how long each check may run (default: validate_timeout, else 5m)')
    .option('--timeout <duration>', 'how long every node has to become ready', '5m')
    .option('--keep-on-failure', 'keep the rig when up or the command fails, and say how to remove it')
    .option('--json', 'progress as JSON lines on stderr')
    .action(async (file, command, flags) => (await import('./commands/run.js')).run(file, command, flags));

  rig
    .command('test')
    .description("run every node's validate commands inside it; a table, JUnit XML with --junit; exit 1 if any fails")
    .argument('[rigfile]', 'the rig file the rig came from')
    .option('--name <name>', "the rig's name (default: RIG_NAME, else the only rig up, else ./rig.yaml's)")
    .option('--junit <file>', 'write JUnit XML here')
    .option('--timeout <duration>', "how long each check may run, over the rig file's validate_timeout (default 5m)")
    .option('--json', 'print the results as JSON')
    .action(async (file, flags) => (await import('./commands/test.js')).test(file, flags));
}

/** Commands that the host, inventories, completion, images. */
function toolCommands(rig: Command): void {
  rig
    .command('gc')
    .description('remove rigs whose owner (an up or run) died before it was done with them')
    .option('--json', 'print what was removed as JSON')
    .action(async (flags) => (await import('./commands/gc.js')).gc(flags));

  rig
    .command('doctor')
    .description('check this host for what rig needs, each check with its fix; exit 1 if something needed is missing')
    .option('--json', 'print the checks as JSON')
    .action(async (flags) => (await import('./commands/doctor.js')).doctor(flags));

  rig
    .command('inventory')
    .description("the rig's nodes for other tools: an Ansible inventory (groups from roles, no sshd needed), JSON, or /etc/hosts lines")
    .option('--name <name>', "the rig (default: RIG_NAME, else the only rig up, else ./rig.yaml's)")
    .option('--format <format>', 'ansible, json or hosts', 'ansible')
    .action(async (flags) => (await import('./commands/inventory.js')).inventory(flags));

  rig
    .command('completion')
    .description('print a shell completion script: commands, options, the rigs that are up and their nodes')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell) => (await import('./commands/completion.js')).completion(shell));

  rig
    .command('__complete', { hidden: true })
    .argument('[words...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (words) => (await import('./commands/completion.js')).complete(words));

  const images = rig
    .command('images')
    .description(
      "rig's locally built images (no registry needed) and their imports into LXD: what each is for, its size, which rigs use it",
    )
    .option('--json', 'as JSON')
    .action(async (flags) => (await import('./commands/images.js')).showImages(flags));
  images
    .command('prune')
    .description("remove rig's images that are not this checkout's builds and that no rig uses")
    .option('--dry-run', 'say which, remove nothing')
    .action(async (flags) => (await import('./commands/images.js')).pruneImages(flags));
  images
    .command('build')
    .description('build the images that are missing or out of date')
    .option('--force', 'rebuild all of them')
    .option('--json', 'progress as JSON lines on stderr')
    // `--json` after `build` may be taken by `rig images`' own --json (commander's parent options are global).
    .action(async (flags, cmd: Command) =>
      (await import('./commands/images.js')).buildImages({ ...flags, json: flags.json || cmd.parent?.opts().json }),
    );
}

/**
 * For shell completion: the values an option takes, by `command --option` (the command itself checks the value it
 * is given). Options whose values depend on what is up (--name, --role, --mirrors) are completion.ts's to find.
 */
export const OPTION_VALUES: Record<string, readonly string[]> = {
  'graph --format': ['dot', 'mermaid'],
  'inventory --format': ['ansible', 'json', 'hosts'],
  'trace --format': ['text', 'json', 'chrome'],
};

const EXAMPLES: Record<string, string[]> = {
  up: ['rig up rigs/village/rig.yaml', 'rig up rig.yaml --name try2 --timeout 10m', 'rig up rig.yaml --dry-run'],
  provision: [
    'rig provision',
    'rig provision mill --idempotent',
    'rig provision --mirrors straleb.prod.example',
    'rig provision barn mill --name village --json',
  ],
  watch: ['rig watch', 'rig watch --name village --json', 'rig up rig.yaml --watch'],
  update: ['rig update', 'rig update --mirrors straleb.prod.example', 'rig update --batch 2 --name village'],
  down: ['rig down --name village', 'rig down rigs/village/rig.yaml', 'rig down --all'],
  status: ['rig status', 'rig status --name village --watch', 'rig status --json'],
  ls: ['rig ls', 'rig ls --json'],
  check: ['rig check rigs/village/rig.yaml', 'rig check rig.yaml --json'],
  facts: ['rig facts barn', 'rig facts barn ipaddress', 'rig facts barn --name village --json'],
  trace: ['rig trace', 'rig trace --name village --format json', 'rig trace --format chrome -o trace.json   # open in ui.perfetto.dev'],
  logs: ['rig logs mill', 'rig logs -f --tail 20', 'rig logs --sidecar --since 10m'],
  exec: [
    'rig exec mill -- redis-cli info replication',
    'rig exec -it mill -- bash',
    'echo hi | rig exec -i mill -- cat',
    'rig exec --role db -- redis-cli ping',
  ],
  shell: ['rig shell mill'],
  run: [
    'rig run rig.yaml -- ./smoke-test.sh',
    'rig run rig.yaml --test --junit results.xml',
    'rig run rig.yaml --on mill -- redis-cli ping',
  ],
  test: ['rig test --name village', 'rig test rig.yaml --junit results.xml', 'rig test --timeout 30s'],
  graph: ['rig graph rig.yaml | dot -Tsvg > graph.svg', 'rig graph rig.yaml --format mermaid'],
  gc: ['rig gc', 'rig gc --json'],
  inventory: [
    'rig inventory > inventory.yml && ansible -i inventory.yml db -m raw -a hostname',
    'rig inventory --format hosts',
    'rig inventory --format json',
  ],
  completion: ['eval "$(rig completion bash)"   # in ~/.bashrc', 'rig completion fish | source'],
  doctor: ['rig doctor', 'rig doctor --json'],
  stop: ['rig stop barn', 'rig stop barn.village.test --name village'],
  start: ['rig start barn', 'rig start barn --timeout 90s'],
  kill: ['rig kill barn', 'rig kill barn && rig start barn'],
  pause: ['rig pause barn'],
  unpause: ['rig unpause barn'],
  replace: ['rig replace barn', 'rig replace barn --new-address'],
  partition: ['rig partition barn mill', 'rig partition barn mill well --name village'],
  heal: ['rig heal', 'rig heal barn mill'],
  netem: ['rig netem mill --loss 5%', 'rig netem mill --delay 200ms', 'rig netem mill --clear'],
};
