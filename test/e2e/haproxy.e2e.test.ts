import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { execa } from 'execa';
import { applyAgain, eventually, rig, rigBin, useRig } from './helpers.js';

/**
 * Production Puppet code, unchanged, in a rig: Debian's packaging of puppetlabs-haproxy in front of two nginx web
 * servers that the load balancer's live hiera data names by their live names. Nothing in the control repo knows
 * about rig: the live names resolve to the rig nodes that mirror them, and the services run under systemd.
 */
const fixtures = resolve(import.meta.dirname, '../fixtures/haproxy');
const root = resolve(import.meta.dirname, '../..');

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

const controlRepo = Object.fromEntries(
  filesUnder(join(fixtures, 'control-repo')).map((f) => [join('control-repo', f), readFileSync(join(fixtures, 'control-repo', f), 'utf8')]),
);

// The test image's tag follows its Dockerfile and rig's node image definitions: either changing rebuilds it.
const imageTag = (() => {
  const hash = createHash('sha256');
  for (const dir of [join(fixtures, 'image'), join(root, 'images')]) {
    for (const f of filesUnder(dir)) hash.update(relative(root, join(dir, f))).update(readFileSync(join(dir, f)));
  }
  return `rig-test/haproxy:${hash.digest('hex').slice(0, 12)}`;
})();

describe('a third-party Puppet module from Debian, with peers named by live names only', () => {
  beforeAll(async () => {
    const present = await execa('docker', ['image', 'inspect', imageTag], { reject: false });
    if (present.exitCode === 0) return;
    const images = await execa('node', [rigBin, 'images', 'build'], { env: { CI: 'true' }, all: true });
    const puppet = /^(rig\/puppet:[0-9a-f]+)/m.exec(images.stdout)?.[1];
    expect(puppet, images.all).toBeDefined();
    await execa('docker', [
      'build',
      '-q',
      '--network',
      'host',
      '--label',
      'io.rig.test=haproxy',
      '--build-arg',
      `BASE=${puppet}`,
      '-t',
      imageTag,
      join(fixtures, 'image'),
    ]);
  }, 600_000);

  const r = useRig(
    'hapx',
    (name) => `name: ${name}
domain: shop.test
init: systemd
image: ${imageTag}
network: { internal: true }
configs:
  - dir: control-repo/hieradata/nodes
    file: "{node}.yaml"
provision:
  - puppet:
      manifest: control-repo/manifests/site.pp
      modulepath: control-repo/site-modules
      hiera_config: control-repo/hiera.yaml
nodes:
  front.shop.test:
    mirrors: lb1.prod.example
    needs: [one, two]        # the load balancer comes up once its backends serve, as in production
  one.shop.test: web1.prod.example
  two.shop.test: web2.prod.example
`,
    controlRepo,
  );

  it('has nothing rig-specific in the control repo', () => {
    for (const [path, text] of Object.entries(controlRepo)) {
      expect(text, path).not.toMatch(/rig|shop\.test|mirror/i);
    }
    expect(controlRepo['control-repo/hieradata/nodes/lb1.prod.example.yaml']).toMatch(/web1\.prod\.example/);
  });

  it('sends requests through haproxy to both backends, named by their live names', async () => {
    const front = (await rig(['facts', 'front', 'ipaddress', '--name', r.name])).stdout.trim();
    expect(front).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // haproxy's health checks ("check") decide which backends get requests: on a busy machine a check can miss
    // once, so the requests go on until both have answered (or 30 s).
    const bodies = new Set<string>();
    const both = await eventually(
      async () => {
        const response = await fetch(`http://${front}/`, { signal: AbortSignal.timeout(5000) });
        expect(response.status).toBe(200);
        bodies.add((await response.text()).trim());
        return bodies.size === 2;
      },
      30_000,
      100,
    );
    expect(both, [...bodies].join(', ')).toBe(true);
    expect([...bodies].sort()).toEqual(['served by one.shop.test', 'served by two.shop.test']);
    const config = await rig(['exec', 'front', '--name', r.name, '--', 'grep', 'server ', '/etc/haproxy/haproxy.cfg']);
    expect(config.stdout).toMatch(/server web1\.prod\.example web1\.prod\.example:80/);
    expect(config.stdout).toMatch(/server web2\.prod\.example web2\.prod\.example:80/);
  });

  it('runs the services as Debian ships them, under systemd', async () => {
    for (const [node, unit] of [
      ['front', 'haproxy'],
      ['one', 'nginx'],
      ['two', 'nginx'],
    ]) {
      const active = await rig(['exec', node, '--name', r.name, '--', 'systemctl', 'is-active', unit]);
      expect(active.stdout.trim(), `${node} ${unit}`).toBe('active');
    }
  });

  it('converges: a second puppet apply changes nothing', async () => {
    for (const node of ['front', 'one', 'two']) {
      const again = await applyAgain(r.name, node);
      expect(again.exitCode, `${node}: ${again.all}`).toBe(0);
    }
  });

  it('rig check maps every live name in the control repo to a rig node', async () => {
    const check = await rig(['check', join(r.dir, 'rig.yaml'), '--json']);
    expect(check.exitCode, check.all).toBe(0);
    const names = JSON.parse(check.stdout) as Array<{ name: string; mirroredBy: string[] }>;
    expect(names.map((n) => [n.name, n.mirroredBy])).toEqual([
      ['web1.prod.example', ['one.shop.test']],
      ['web2.prod.example', ['two.shop.test']],
    ]);
  });
});
