import { describe, expect, it } from 'vitest';
import { readMarker, renderConfig, splitEnv, type LxcNodeConfig } from '../../src/runtime/lxc/config.js';

const node: LxcNodeConfig = {
  marker: {
    rig: 'village',
    node: 'barn.village.test',
    mirrors: 'straleb.prod.example',
    validate: ['test "$(hostname)" = barn'],
    update: ['true'],
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
    expect(readMarker(renderConfig({ ...node, marker: { rig: 'v', node: 'a.v.test', validate: [], update: [] } }))).toEqual({
      rig: 'v',
      node: 'a.v.test',
      mirrors: undefined,
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
