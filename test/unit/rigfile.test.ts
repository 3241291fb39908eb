import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RigFileError, type Problem } from '../../src/errors.js';
import { schemaAt, validatorSource } from '../../src/rigfile/check-schema.js';
import { loadRigFile, parseRigFile, type LoadOptions } from '../../src/rigfile/load.js';
import { NODE_KEYS, TOP_LEVEL_KEYS, plainSchema, rigFileJsonSchema } from '../../src/rigfile/schema.js';

const FILE = 'rigs/test.yaml';
const y = (...lines: string[]) => lines.join('\n') + '\n';

function problems(text: string, opts?: LoadOptions, file = FILE): Problem[] {
  try {
    parseRigFile(text, file, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(RigFileError);
    return (err as RigFileError).problems;
  }
  throw new Error('expected a RigFileError');
}

function one(text: string, opts?: LoadOptions): Problem {
  const found = problems(text, opts);
  expect(found, JSON.stringify(found, null, 2)).toHaveLength(1);
  expect(found[0].file).toBe(FILE);
  expect(found[0].hint).toBeTruthy();
  return found[0];
}

describe('simple form', () => {
  it('maps made-up names to live nodes', () => {
    const spec = parseRigFile(
      y('barn.village.test: straleb.prod.example', 'mill.village.test: kelda.prod.example', 'well.village.test:'),
      FILE,
    );
    expect(spec.file).toBe(path.resolve(FILE));
    expect(spec.dir).toBe(path.resolve('rigs'));
    expect(spec.name).toBe('test');
    expect(spec.domain).toBe('village.test');
    expect(spec.image).toBeUndefined();
    expect(spec.network).toEqual({ pool: '10.213.0.0/16', internal: false, forward: [] });
    const none = { init: 'rig', provision: [], needs: [], reactions: [], validate: [], update: [], roles: [] };
    expect(spec.nodes).toEqual([
      { name: 'barn.village.test', shortName: 'barn', mirrors: 'straleb.prod.example', backend: 'docker', facts: {}, ...none, line: 1 },
      { name: 'mill.village.test', shortName: 'mill', mirrors: 'kelda.prod.example', backend: 'docker', facts: {}, ...none, line: 2 },
      { name: 'well.village.test', shortName: 'well', backend: 'docker', facts: {}, ...none, line: 3 },
    ]);
  });

  it('expands short names with the inferred domain', () => {
    const spec = parseRigFile(y('barn.village.test: a.example', 'mill: b.example'), FILE);
    expect(spec.nodes.map((n) => n.name)).toEqual(['barn.village.test', 'mill.village.test']);
  });

  it('rejects values that are not live node names', () => {
    const p = one(y('barn.village.test: a.example', 'mill.village.test:', '  mirrors: b.example'));
    expect(p).toMatchObject({ line: 3, column: 3, path: '["mill.village.test"]' });
    expect(p.message).toContain('must be a live node name or empty, not a map');
    expect(p.hint).toContain('nodes:');
  });
});

describe('full form', () => {
  it('reads every setting', () => {
    const spec = parseRigFile(
      y(
        'name: village',
        'domain: village.test',
        'backend: lxc',
        'image: debian-with-tools',
        'network:',
        '  subnet: 10.213.7.0/24',
        '  pool: 10.214.0.0/16',
        '  internal: true',
        'configs:',
        '  - dir: ../control-repo/hieradata/nodes',
        '    file: "{node}.yaml"',
        '  - dir: ansible/host_vars',
        'facts:',
        '  datacentre: test',
        '  rack: 7',
        'nodes:',
        '  barn.village.test: straleb.prod.example',
        '  mill: kelda.prod.example',
        '  well.village.test:',
        '  pump.village.test:',
        '    mirrors: kelda.prod.example',
        '    image: my/image',
        '    backend: docker',
        '    facts: { role: pump, rack: 9, tags: [a, b], extra: { x: 1 } }',
      ),
      FILE,
    );
    const rigDir = path.resolve('rigs');
    expect(spec).toMatchObject({
      dir: rigDir,
      name: 'village',
      domain: 'village.test',
      image: 'debian-with-tools',
      network: { subnet: '10.213.7.0/24', pool: '10.214.0.0/16', internal: true },
      configs: [
        { dir: path.resolve(rigDir, '../control-repo/hieradata/nodes'), file: '{node}.yaml' },
        { dir: path.join(rigDir, 'ansible/host_vars'), file: '{node}.yaml' },
      ],
    });
    const rigFacts = { datacentre: 'test', rack: '7' };
    const none = { init: 'rig', provision: [], needs: [], reactions: [], validate: [], update: [], roles: [] };
    expect(spec.nodes).toEqual([
      {
        name: 'barn.village.test',
        shortName: 'barn',
        mirrors: 'straleb.prod.example',
        backend: 'lxc',
        image: 'debian-with-tools',
        facts: rigFacts,
        ...none,
        line: 17,
      },
      {
        name: 'mill.village.test',
        shortName: 'mill',
        mirrors: 'kelda.prod.example',
        backend: 'lxc',
        image: 'debian-with-tools',
        facts: rigFacts,
        ...none,
        line: 18,
      },
      { name: 'well.village.test', shortName: 'well', backend: 'lxc', image: 'debian-with-tools', facts: rigFacts, ...none, line: 19 },
      {
        name: 'pump.village.test',
        shortName: 'pump',
        mirrors: 'kelda.prod.example',
        backend: 'docker',
        image: 'my/image',
        facts: { datacentre: 'test', rack: '9', role: 'pump', tags: '["a","b"]', extra: '{"x":1}' },
        ...none,
        line: 20,
      },
    ]);
  });

  it('takes the name from the file, then name:, then opts.name', () => {
    expect(parseRigFile(y('nodes:', '  barn.v.test: a.example'), 'some/dir/hamlet.yaml').name).toBe('hamlet');
    expect(parseRigFile(y('name: farm', 'nodes:', '  barn.v.test: a.example'), FILE).name).toBe('farm');
    expect(parseRigFile(y('name: farm', 'nodes:', '  barn.v.test: a.example'), FILE, { name: 'other' }).name).toBe('other');
    expect(parseRigFile(y('barn.v.test: a.example'), FILE, { name: 'other' }).name).toBe('other');
  });

  it('takes init rig-wide, a node may override it', () => {
    const spec = parseRigFile(y('init: systemd', 'nodes:', '  barn.v.test:', '  mill.v.test: { init: rig }'), FILE);
    expect(spec.nodes.map((n) => n.init)).toEqual(['systemd', 'rig']);
    expect(parseRigFile(y('barn.v.test: a.example'), FILE).nodes[0].init).toBe('rig');
  });

  it('keeps dates and yes/no as strings', () => {
    const spec = parseRigFile(y('facts: { since: 2020-01-01, ok: yes }', 'nodes: { barn.v.test: }'), FILE);
    expect(spec.nodes[0].facts).toEqual({ since: '2020-01-01', ok: 'yes' });
  });
});

describe('names and domain', () => {
  it('requires nodes to agree on the domain when none is set', () => {
    const p = one(y('barn.village.test: a.example', 'mill.other.test: b.example'));
    expect(p).toMatchObject({ line: 2, column: 1, path: '["mill.other.test"]' });
    expect(p.message).toContain('disagree about the domain');
    expect(p.hint).toContain('domain:');
  });

  it('cannot infer a domain from short names only', () => {
    const p = one(y('nodes:', '  barn: a.example'));
    expect(p).toMatchObject({ line: 2, column: 3, path: 'nodes.barn' });
    expect(p.message).toContain('domain');
    expect(p.hint).toContain('domain: village.test');
  });

  it('rejects a dotted node name outside the domain', () => {
    const p = one(y('domain: village.test', 'nodes:', '  barn: a.example', '  mill.town.test: b.example'));
    expect(p).toMatchObject({ line: 4, column: 3, path: 'nodes["mill.town.test"]' });
    expect(p.message).toContain('village.test');
    expect(p.hint).toContain('mill.village.test');
  });

  it('rejects invalid node names', () => {
    const p = one(y('Barn.village.test: a.example', 'mill.village.test: b.example'));
    expect(p).toMatchObject({ line: 1, column: 1, path: '["Barn.village.test"]' });
    expect(p.message).toContain('not a valid node name');
    expect(p.hint).toContain('lowercase');
  });

  it('rejects a repeated short name at the second node', () => {
    const p = one(y('domain: village.test', 'nodes:', '  barn: a.example', '  mill: b.example', '  barn.sub.village.test: c.example'));
    expect(p).toMatchObject({ line: 5, path: 'nodes["barn.sub.village.test"]' });
    expect(p.message).toContain('"barn" is already used');
  });

  it('rejects the short name rig gives its own sidecar container', () => {
    const p = one(y('barn.village.test: a.example', 'sidecar.village.test: b.example'));
    expect(p).toMatchObject({ line: 2, path: '["sidecar.village.test"]' });
    expect(p.message).toContain('"sidecar" is rig\'s own');
    expect(p.hint).toContain('sidecar1.village.test');
  });

  it('rejects invalid mirrors', () => {
    let p = one(y('barn.village.test: straleb_prod'));
    expect(p).toMatchObject({ line: 1, column: 20, path: '["barn.village.test"]' });
    expect(p.message).toContain('not a valid host name');
    p = one(y('nodes:', '  barn.village.test:', '    mirrors: 42'));
    expect(p).toMatchObject({ line: 3, column: 14, path: 'nodes["barn.village.test"].mirrors' });
    expect(p.message).toContain('must be a host name');
  });

  it('rejects an invalid rig name', () => {
    let p = one(y('name: Village Green', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 1, column: 7, path: 'name' });
    expect(p.hint).toContain('lowercase');
    p = one(y('barn.v.test:'), { name: 'x_y' });
    expect(p).toMatchObject({ line: 1, column: 1, path: 'name' });
    const [q] = problems(y('barn.v.test:'), undefined, 'rigs/My Rig.yaml');
    expect(q.message).toContain('"My Rig"');
    expect(q.hint).toContain('name:');
  });

  it('requires nodes in the full form, and at least one', () => {
    let p = one(y('# my rig', 'domain: village.test', 'image: x'));
    expect(p).toMatchObject({ line: 1, column: 1, path: 'nodes' });
    expect(p.message).toContain('missing');
    p = one(y('domain: village.test', 'nodes: {}'));
    expect(p).toMatchObject({ line: 2, path: 'nodes', message: 'no nodes' });
    p = one(y('nodes:'));
    expect(p).toMatchObject({ line: 1, path: 'nodes' });
    expect(p.message).toContain('is empty');
  });
});

describe('settings', () => {
  it('suggests the closest valid key for unknown keys', () => {
    let p = one(y('imgae: x', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 1, column: 1, path: 'imgae', message: 'unknown key "imgae"' });
    expect(p.hint).toMatch(/^did you mean image\? valid keys here: name, domain/);
    p = one(y('nodes:', '  pump.village.test:', '    mirrros: a.example'));
    expect(p).toMatchObject({ line: 3, column: 5, path: 'nodes["pump.village.test"].mirrros' });
    expect(p.hint).toContain('did you mean mirrors?');
    p = one(y('network:', '  subnett: 10.0.0.0/24', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 2, path: 'network.subnett' });
    expect(p.hint).toContain('did you mean subnet?');
    p = one(y('configs:', '  - dir: x', '    files: "{node}"', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 3, column: 5, path: 'configs[0].files' });
    expect(p.hint).toContain('did you mean file?');
    p = one(y('colour: blue', 'nodes: { barn.v.test: }'));
    expect(p.hint).not.toContain('did you mean');
  });

  it('checks backend and image', () => {
    const p = one(y('backend: podman', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 1, column: 10, path: 'backend', message: 'unknown backend "podman"' });
    expect(p.hint).toContain('docker, lxc');
    const [b, q] = problems(y('nodes:', '  barn.v.test:', '    backend: 3', '    image: ""'));
    expect(b).toMatchObject({ line: 3, column: 14, path: 'nodes["barn.v.test"].backend' });
    expect(b.message).toBe('must be a backend name, not a number (3)');
    expect(q).toMatchObject({ line: 4, column: 12, path: 'nodes["barn.v.test"].image' });
    expect(q.message).toContain('non-empty string');
  });

  it('checks the network', () => {
    const net = (...lines: string[]) => one(y('network:', ...lines, 'nodes: { barn.v.test: }'));
    let p = net('  subnet: 10.213.7.1/24');
    expect(p).toMatchObject({ line: 2, column: 11, path: 'network.subnet' });
    expect(p.message).toContain('host bits');
    expect(p.hint).toBe('use 10.213.7.0/24');
    p = net('  subnet: 10.213.7.0/30');
    expect(p.message).toContain('/30');
    expect(p.hint).toContain('/16 to /26');
    p = net('  pool: 10.300.0.0/16');
    expect(p).toMatchObject({ line: 2, path: 'network.pool' });
    expect(p.message).toContain('CIDR');
    p = net('  internal: "no"');
    expect(p).toMatchObject({ line: 2, path: 'network.internal' });
    expect(p.message).toContain('true or false');
    p = one(y('network: 10.0.0.0/24', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 1, column: 10, path: 'network' });
  });

  it('checks configs', () => {
    const cfg = (...lines: string[]) => problems(y('configs:', ...lines, 'nodes: { barn.v.test: }'));
    let [p] = cfg('  dir: x');
    expect(p).toMatchObject({ line: 2, column: 3, path: 'configs' });
    expect(p.message).toContain('list');
    [p] = cfg('  - x');
    expect(p).toMatchObject({ line: 2, column: 5, path: 'configs[0]' });
    [p] = cfg('  - dir: a', '  - file: "{node}.yaml"');
    expect(p).toMatchObject({ line: 3, path: 'configs[1].dir', message: 'missing' });
    [p] = cfg('  - dir: a', '    file: host.yaml');
    expect(p).toMatchObject({ line: 3, column: 11, path: 'configs[0].file' });
    expect(p.message).toContain('{node}');
    [p] = cfg('  - dir: a', '    file: ../{node}.yaml');
    expect(p.message).toContain('no ..');
    [p] = cfg('  - dir: a', '    file: /etc/{node}.yaml');
    expect(p.message).toContain('not absolute');
  });

  it('checks and merges facts', () => {
    const spec = parseRigFile(
      y('facts: { dc: test, role: none }', 'nodes:', '  barn.v.test: { facts: { role: pump, n: 1, on: true } }', '  mill.v.test:'),
      FILE,
    );
    expect(spec.nodes[0].facts).toEqual({ dc: 'test', role: 'pump', n: '1', on: 'true' });
    expect(spec.nodes[1].facts).toEqual({ dc: 'test', role: 'none' });

    let p = one(y('facts:', '  Role: x', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 2, path: 'facts.Role' });
    expect(p.message).toContain('not a valid fact name');
    p = one(y('nodes:', '  barn.v.test:', '    facts:', '      fqdn: x'));
    expect(p).toMatchObject({ line: 4, column: 7, path: 'nodes["barn.v.test"].facts.fqdn' });
    expect(p.message).toContain('set by rig');
    p = one(y('facts:', '  dc:', 'nodes: { barn.v.test: }'));
    expect(p).toMatchObject({ line: 2, path: 'facts.dc', message: 'has no value' });
  });
});

describe('the schema pass', () => {
  it('points at the item of a list that is wrong, not at the list', () => {
    const found = problems(y('network: { forward: [ntp.prod.example, Bad_Name] }', 'nodes:', '  barn.v.test: { roles: [db, Primary] }'));
    expect(found.map((p) => [p.line, p.column, p.path, p.message])).toEqual([
      [1, 40, 'network.forward[1]', '"Bad_Name" is not a valid DNS name'],
      [3, 30, 'nodes["barn.v.test"].roles[1]', 'must be a role name (lowercase letters, digits, underscores), not a string ("Primary")'],
    ]);
  });

  it("refuses a role named as Ansible's own groups (roles are the inventory's groups)", () => {
    const p = one(y('nodes:', '  barn.v.test: { roles: [db, _meta] }'));
    expect(p).toMatchObject({
      line: 2,
      path: 'nodes["barn.v.test"].roles[1]',
      hint: 'rename the role; Ansible keeps all, ungrouped, _meta',
    });
    expect(p.message).toContain('a name Ansible keeps for itself');
  });

  it('keeps a node whose value is wrong, so that what needs it finds it', () => {
    const p = one(y('name: x', 'nodes:', '  a.v.test: { needs: [b] }', '  b.v.test: 3'));
    expect(p).toMatchObject({ line: 4, column: 13, path: 'nodes["b.v.test"]' });
    expect(p.message).toBe('must be a live node name, a map of settings, or empty, not a number (3)');
  });

  it('names keys with slashes and tildes as written', () => {
    const found = problems(y('"a/b": 1', '"c~d": 2', 'nodes: { barn.v.test: }'));
    expect(found.map((p) => [p.line, p.path, p.message])).toEqual([
      [1, '["a/b"]', 'unknown key "a/b"'],
      [2, '["c~d"]', 'unknown key "c~d"'],
    ]);
  });

  it("reports a union by the branch of the value's type", () => {
    const found = problems(y('provision:', '  - puppet: { modulepath: 3 }', '  - puppet: 3', 'nodes: { barn.v.test: }'));
    expect(found.map((p) => [p.line, p.path, p.message])).toEqual([
      [2, 'provision[0].puppet', 'missing manifest:'],
      [2, 'provision[0].puppet.modulepath', 'must be the path of module path, relative to the rig file, not a number (3)'],
      [3, 'provision[1].puppet', 'must be the path of manifest, relative to the rig file, or a map with manifest:, not a number (3)'],
    ]);
  });
});

describe('file-level problems', () => {
  it('rejects a rig file that is not a map', () => {
    let p = one(y('- barn.v.test'));
    expect(p).toMatchObject({ line: 1, path: '' });
    expect(p.message).toContain('must be a map, not a list');
    p = one('');
    expect(p).toMatchObject({ line: 1, column: 1, message: 'the rig file is empty' });
    p = one(y('# nothing', 'just words'));
    expect(p.message).toContain('not a string');
  });

  it('reports YAML syntax errors with their line', () => {
    const p = one(y('nodes:', '  barn.v.test: [a', '  mill.v.test: b'));
    expect(p.path).toBe('');
    expect(p.message).toMatch(/^YAML syntax error/);
    expect(p.line).toBeGreaterThanOrEqual(3);
    const q = one(y('nodes:', '\tbarn.v.test: a'));
    expect(q).toMatchObject({ line: 2, column: 1 });
    expect(q.message).toContain('tab');
  });

  it('reports duplicate keys', () => {
    const p = one(y('nodes:', '  barn.v.test: a', '  mill.v.test: b', '  barn.v.test: c'));
    expect(p).toMatchObject({ line: 4, column: 3, path: '' });
    expect(p.message).toContain('duplicated mapping key');
    expect(p.hint).toContain('only once');
  });

  it('reports several problems together, in file order', () => {
    const found = problems(
      y('nodes:', '  barn.v.test:', '    imgae: x', '  Mill.v.test: a', 'backend: kvm', 'network: { pool: 10.0.0.0/33 }'),
    );
    expect(found.map((p) => [p.line, p.path])).toEqual([
      [3, 'nodes["barn.v.test"].imgae'],
      [4, 'nodes["Mill.v.test"]'],
      [5, 'backend'],
      [6, 'network.pool'],
    ]);
    const err = (() => {
      try {
        parseRigFile(y('backend: kvm', 'nodes: { barn.v.test: x_y }'), FILE);
      } catch (e) {
        return e as RigFileError;
      }
    })();
    expect(err?.message).toContain('2 problems');
    expect(err?.message).toContain('rigs/test.yaml:1:10: backend: unknown backend "kvm"');
  });

  it('reports a missing file', () => {
    const missing = path.join(os.tmpdir(), 'no-such-dir-rig', 'gone.yaml');
    try {
      loadRigFile(missing);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RigFileError);
      expect((err as RigFileError).problems).toEqual([
        expect.objectContaining({ file: missing, line: 1, column: 1, path: '', message: 'cannot read rig file: no such file' }),
      ]);
    }
  });
});

describe('configs default', () => {
  let tmp: string | undefined;
  afterEach(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });
  const rig = () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rigfile-test-'));
    const file = path.join(tmp, 'village.yaml');
    fs.writeFileSync(file, y('barn.village.test: straleb.prod.example'));
    return file;
  };

  it('uses hieradata/nodes next to the rig file when it exists', () => {
    const file = rig();
    fs.mkdirSync(path.join(tmp!, 'hieradata', 'nodes'), { recursive: true });
    const spec = loadRigFile(file);
    expect(spec.name).toBe('village');
    expect(spec.configs).toEqual([{ dir: path.join(tmp!, 'hieradata', 'nodes'), file: '{node}.yaml' }]);
    expect(parseRigFile(y('configs: []', 'nodes: { barn.v.test: }'), file).configs).toEqual([]);
  });

  it('has no configs when it does not exist', () => {
    expect(loadRigFile(rig()).configs).toEqual([]);
  });
});

describe('schema/rigfile.schema.json', () => {
  const CHECKS = ['type', 'anyOf', 'enum', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minProperties', 'not'];

  it('is what src/rigfile/schema.ts generates (npm run schema writes it)', () => {
    const checkedIn = fs.readFileSync(new URL('../../schema/rigfile.schema.json', import.meta.url), 'utf8');
    expect(checkedIn, 'schema/rigfile.schema.json is out of date: run npm run schema').toBe(rigFileJsonSchema());
  });

  it('has words and a fix for every check it makes', () => {
    const checks: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (typeof node !== 'object' || node === null) return;
      for (const [key, child] of Object.entries(node)) {
        if (key === 'if') continue; // it only tests: it reports nothing itself
        if (CHECKS.includes(key) && !(key === 'type' && at.endsWith('/propertyNames'))) checks.push(`${at}/${key}`); // keys are strings
        if (key !== 'not') walk(child, `${at}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`);
      }
    };
    walk(plainSchema(), '#');
    expect(checks.length).toBeGreaterThan(100);
    const wordless = checks.filter((p) => {
      const { says } = schemaAt(p);
      const typed = p.endsWith('/type') || p.endsWith('/anyOf');
      return typed ? !says.expected || !says.hint : !(says.invalid || says.expected) || !(says.invalidHint ?? says.hint);
    });
    expect(wordless).toEqual([]);
  });

  it('precompiles (npm run build) to a validator that finds what the compiled one finds', async () => {
    const { Ajv } = await import('ajv');
    const module = { exports: {} as { (doc: unknown): boolean; errors?: unknown[]; schemaText?: string } };
    new Function('module', 'exports', 'require', validatorSource())(module, module.exports, createRequire(import.meta.url));
    const precompiled = module.exports;
    const compiled = new Ajv({ allErrors: true, verbose: true, strictTypes: false }).compile(plainSchema());
    expect(precompiled.schemaText).toBe(JSON.stringify(plainSchema()));
    const docs = [
      { nodes: { 'a.v.test': { init: 3, provision: [{}, { shell: 'x', script: 'y' }, { puppet: { manfest: 1 } }] } }, imgae: 'x' },
      { 'Barn.x': { a: 1 }, 'c.x': 12 },
      { facts: { Role: null, fqdn: 1 }, network: { subnet: '10.300.0.0/16' }, nodes: {} },
    ];
    for (const doc of docs) {
      expect(precompiled(doc)).toBe(false);
      expect(compiled(doc)).toBe(false);
      const strip = (errors: unknown[] | null | undefined) =>
        JSON.parse(JSON.stringify(errors, (k, v) => (k === 'schema' || k === 'parentSchema' ? undefined : v)));
      expect(strip(precompiled.errors)).toEqual(strip(compiled.errors));
    }
  });

  it('names keys in the order rig lists them', () => {
    expect(TOP_LEVEL_KEYS.slice(0, 3)).toEqual(['name', 'domain', 'backend']);
    expect(TOP_LEVEL_KEYS.at(-1)).toBe('nodes');
    expect(NODE_KEYS[0]).toBe('mirrors');
  });
});
