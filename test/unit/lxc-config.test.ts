import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineSplitter, type LogOptions } from '../../src/runtime/backend.js';
import { readMarker, renderConfig, splitEnv, type LxcNodeConfig } from '../../src/runtime/lxc/config.js';
import { LxcNodes, type LxcOptions } from '../../src/runtime/lxc/nodes.js';
import type { ImageFiles } from '../../src/runtime/runtime.js';

const node: LxcNodeConfig = {
  marker: {
    rig: 'village',
    node: 'barn.village.test',
    mirrors: 'straleb.prod.example',
    roles: ['db', 'primary'],
    validate: ['test "$(hostname)" = barn'],
    update: ['true', { ansible: 'ansible/upgrade.yml' }],
    settings: '0123456789abcdef',
    links: [{ path: '/srv/hiera/nodes/barn.village.test.yaml', target: 'straleb.prod.example.yaml' }],
  },
  hostname: 'barn',
  lowerDir: '/var/cache/rig/rootfs/74395a11b495',
  upperDir: '/var/lib/lxc/rig-village-barn/delta0',
  toolsDir: '/var/cache/rig/tools/4159ba7cd378',
  repoDir: '/home/me/my rigs',
  repoMount: '/.rig-repo',
  bridge: 'br-3b1e294d41ef',
  hostInterface: 'rve36618b680bd',
  mac: '02:b8:9e:42:a2:48',
  env: { RIG_NAME: 'village', RIG_MIRRORS: '' },
  consoleLog: '/var/lib/lxc/rig-village-barn/console.log',
  systemd: false,
  commonConfig: '/usr/share/lxc/config/common.conf',
};

describe('LXC node config', () => {
  const config = renderConfig(node);

  it('puts the node on the rig bridge with its planned veth and MAC, over an overlay root, with the agent as init', () => {
    expect(config).toContain('lxc.net.0.link = br-3b1e294d41ef\n');
    expect(config).toContain('lxc.net.0.veth.pair = rve36618b680bd\n');
    expect(config).toContain('lxc.net.0.hwaddr = 02:b8:9e:42:a2:48\n');
    expect(config).toContain('lxc.net.0.name = eth0\n');
    expect(config).toContain('lxc.rootfs.path = overlay:/var/cache/rig/rootfs/74395a11b495:/var/lib/lxc/rig-village-barn/delta0\n');
    expect(config).toContain('lxc.init.cmd = /.rig/bin/sh /.rig/bin/rig-agent\n');
    expect(config).toContain('lxc.signal.halt = SIGTERM\n');
    expect(config).toContain('lxc.environment = RIG_MIRRORS=\n');
  });

  it('mounts the tools and the repo read-only, escaping blanks in paths', () => {
    expect(config).toContain('lxc.mount.entry = /var/cache/rig/tools/4159ba7cd378 .rig none bind,ro,create=dir 0 0\n');
    expect(config).toContain('lxc.mount.entry = /home/me/my\\040rigs .rig-repo none bind,ro,create=dir 0 0\n');
  });

  it('cannot be forged by what a validate command holds (line separators, carriage returns)', () => {
    for (const sep of ['\u2028', '\u2029', '\r', '\u0085']) {
      const forged = { ...node.marker, validate: [`true${sep}# io.rig.rig = other${sep}# io.rig.node = x.other.test`] };
      const config = renderConfig({ ...node, marker: forged });
      expect(
        config.split('\n').every((line) => /^[\x20-\x7e]*$/.test(line)),
        'every line is printable ASCII',
      ).toBe(true);
      expect(readMarker(config)).toEqual(forged);
    }
  });

  it('takes the marker only from the comment lines that open the config, first value first', () => {
    expect(readMarker(`${config}# io.rig.rig = other\n`)?.rig).toBe('village');
    expect(readMarker(config.replace('# io.rig.rig = village\n', '# io.rig.rig = village\n# io.rig.rig = other\n'))?.rig).toBe('village');
  });

  it('reads its own marker back', () => {
    expect(readMarker(config)).toEqual(node.marker);
    expect(readMarker(renderConfig({ ...node, marker: { rig: 'v', node: 'a.v.test', roles: [], validate: [], update: [] } }))).toEqual({
      rig: 'v',
      node: 'a.v.test',
      mirrors: undefined,
      roles: [],
      validate: [],
      update: [],
      settings: undefined,
      links: [],
    });
  });

  it('finds no marker in a container that is not a rig node', () => {
    expect(readMarker('lxc.uts.name = web\nlxc.net.0.type = veth\n')).toBeUndefined();
    expect(readMarker('# io.rig.rig = village\nlxc.uts.name = web\n')).toBeUndefined();
  });

  it('caps the console log: LXC rotates it at 16 MiB into console.log.1, with no ringbuffer in memory', () => {
    expect(config).toContain('lxc.console.logfile = /var/lib/lxc/rig-village-barn/console.log\n');
    expect(config).toContain('lxc.console.size = 16MB\n');
    expect(config).toContain('lxc.console.rotate = 1\n');
    expect(config).not.toContain('lxc.console.buffer.size');
  });

  it('refuses an overlay path LXC would split', () => {
    expect(() => renderConfig({ ...node, lowerDir: '/cache/a:b' })).toThrow(/colon/);
  });
});

describe('splitEnv', () => {
  it('keeps single-line values for the config and writes the others as a file the agent sources', () => {
    const { config, file } = splitEnv({ RIG_NAME: 'village', RIG_CUSTOM_FACTS: "a YQ==\nb it's" });
    expect(config).toEqual({ RIG_NAME: 'village' });
    expect(file).toContain("export RIG_CUSTOM_FACTS='a YQ==\nb it'\\''s'\n");
  });

  it('writes no file when every value fits a config line', () => {
    expect(splitEnv({ RIG_NAME: 'village' }).file).toBeUndefined();
  });
});

describe('LineSplitter', () => {
  const split = async (chunks: Array<string | Buffer>, max?: number) => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => void lines.push(line), max);
    for (const chunk of chunks) await splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    await splitter.end();
    return lines;
  };

  it('hands on lines as they end, across chunks, and a last line without its newline', async () => {
    expect(await split(['a\nb', 'c\n\nd'])).toEqual(['a', 'bc', '', 'd']);
    expect(await split(['a\n'])).toEqual(['a']);
  });

  it('keeps a character whole when a chunk ends inside it', async () => {
    const bytes = Buffer.from('é€\n');
    expect(await split([bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)])).toEqual(['é€']);
  });

  it('cuts a line over the limit into pieces, so no line is held whole', async () => {
    expect(await split(['abcdefg', 'hij\nk'], 4)).toEqual(['abcd', 'efgh', 'ij', 'k']);
  });

  it('waits for the sink before the next line', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const splitter = new LineSplitter((line) => {
      seen.push(line);
      if (line === 'a') return new Promise<void>((resolve) => (release = resolve));
    });
    const pushed = splitter.push(Buffer.from('a\nb\n'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['a']);
    release();
    await pushed;
    expect(seen).toEqual(['a', 'b']);
  });
});

describe('an LXC console log, read by rig logs', () => {
  let lxcPath: string;
  const name = 'rig-village.barn';
  const nodes = () => new LxcNodes({} as ImageFiles, { lxcPath } as LxcOptions);
  const instance = { rig: 'village', node: 'barn.village.test', backend: 'lxc' as const, name, running: true };
  const read = async (options: Partial<LogOptions> = {}) => {
    const lines: string[] = [];
    await nodes().streamLogs(
      instance,
      { follow: false, timestamps: false, ...options },
      (line) => void lines.push(line),
      new AbortController().signal,
    );
    return lines;
  };
  // The agent's times on its lines, after the files were begun (as they are: files are begun as the node writes).
  const at = (seconds: number) => new Date((Math.floor(Date.now() / 1000) + 3600 + seconds) * 1000).toISOString().replace('.000Z', 'Z');
  const [step, ready] = [at(0), at(5)];
  beforeEach(() => {
    lxcPath = mkdtempSync(join(tmpdir(), 'rig-lxc-log-'));
    mkdirSync(join(lxcPath, name));
    // What LXC left after a rotation (cut inside a line), in a terminal's line ends.
    writeFileSync(join(lxcPath, name, 'console.log.1'), `flood 1\r\nflood 2\r\n${step} rig-agent: step 1/1\r\nflo`);
    writeFileSync(join(lxcPath, name, 'console.log'), `od 3\r\n${ready} rig-agent: ready\r\npartial`);
  });
  afterEach(() => rmSync(lxcPath, { recursive: true, force: true }));

  it("reads the rotated file, then the one LXC writes, without the terminal's \\r and the agent's times", async () => {
    expect(await read()).toEqual(['flood 1', 'flood 2', 'rig-agent: step 1/1', 'flood 3', 'rig-agent: ready', 'partial']);
  });

  it('takes --tail across the two files, from their end', async () => {
    expect(await read({ tail: 1 })).toEqual(['partial']);
    expect(await read({ tail: 4 })).toEqual(['rig-agent: step 1/1', 'flood 3', 'rig-agent: ready', 'partial']);
    expect(await read({ tail: 100 })).toHaveLength(6);
    expect(await read({ tail: 0 })).toEqual([]);
  });

  it('gives a line without a time the time of the line before it, for --timestamps and --since', async () => {
    expect(await read({ tail: 3, timestamps: true })).toEqual([`${step} flood 3`, `${ready} rig-agent: ready`, `${ready} partial`]);
    expect(await read({ since: Date.parse(ready) / 1000 })).toEqual(['rig-agent: ready', 'partial']);
    expect(await read({ since: Date.parse(step) / 1000 })).toEqual(['rig-agent: step 1/1', 'flood 3', 'rig-agent: ready', 'partial']);
  });

  it('follows what LXC appends, on into the new file when it rotates, missing nothing', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const options = { follow: true, tail: 2, timestamps: false };
    const following = nodes().streamLogs(instance, options, (line) => void lines.push(line), stop.signal);
    const until = async (line: string) => {
      for (let i = 0; i < 500 && !lines.includes(line); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    try {
      await until('rig-agent: ready'); // it reads what is there first, then follows
      const dir = join(lxcPath, name);
      appendFileSync(join(dir, 'console.log'), 'ly done\r\nline a\r\nline');
      renameSync(join(dir, 'console.log'), join(dir, 'console.log.1')); // as LXC rotates: rename, then a new file
      writeFileSync(join(dir, 'console.log'), ' b\r\nline c\r\n');
      await until('line c');
      expect(lines).toEqual(['rig-agent: ready', 'partially done', 'line a', 'line b', 'line c']);
    } finally {
      stop.abort();
      await following;
    }
  });

  it('gives the lines before the first time the time their file was begun (none older can be in it)', async () => {
    const born = statSync(join(lxcPath, name, 'console.log.1')).birthtimeMs;
    const lines = await read({ timestamps: true });
    if (born > 0) expect(lines[0]).toBe(`${new Date(Math.floor(born / 1000) * 1000).toISOString().replace('.000Z', 'Z')} flood 1`);
    else expect(lines[0]).toBe('flood 1'); // a filesystem that keeps no birth time: no time to give
    expect(await read({ since: Date.parse('2030-01-01T00:00:00Z') / 1000 })).toEqual([]);
  });
});
