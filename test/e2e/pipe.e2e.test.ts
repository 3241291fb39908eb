import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { rigBin, useRig } from './helpers.js';

// 30,000 bytes of "x" per fact, three facts: `rig facts --json` prints well over a pipe's 64 KiB.
const FACT = 'x'.repeat(30_000);

/** Run rig with its stdout into a reader that starts reading only after 2 s; what the reader counted, and rig's exit code. */
async function intoSlowPipe(args: string[]): Promise<{ bytes: number; exitCode: number; stderr: string }> {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const { stdout, stderr } = await execa('bash', ['-c', `node ${rigBin} ${quoted} | (sleep 2; wc -c); echo "exit \${PIPESTATUS[0]}"`], {
    env: { CI: 'true' },
  });
  const [bytes, exit] = stdout.trim().split('\n');
  return { bytes: Number(bytes), exitCode: Number(exit.replace('exit ', '')), stderr };
}

describe('output into a slow pipe arrives whole, and the exit code is the truth', () => {
  const r = useRig(
    'pipe',
    (name) => `name: ${name}
domain: p.test
network: { internal: true }
configs: []
nodes:
  a.p.test:
    provision:
      - shell: for f in big1 big2 big3; do rig-fact set $f "$(head -c 30000 /dev/zero | tr '\\0' x)"; done
      - shell: yes 0123456789abcdefghijklmnopqrstuvwxyz | head -n 5000
`,
  );

  it('rig exec: a million bytes from the node', async () => {
    const out = await intoSlowPipe(['exec', 'a', '--name', r.name, '--', 'sh', '-c', 'yes abcdefghij | head -c 1000000']);
    expect(out).toEqual({ bytes: 1_000_000, exitCode: 0, stderr: '' });
  });

  it('rig facts --json: every fact, whole', async () => {
    const whole = await execa('node', [rigBin, 'facts', 'a', '--name', r.name, '--json'], { env: { CI: 'true' } });
    const facts = JSON.parse(whole.stdout) as Record<string, string>;
    expect([facts.big1, facts.big2, facts.big3]).toEqual([FACT, FACT, FACT]);
    const out = await intoSlowPipe(['facts', 'a', '--name', r.name, '--json']);
    expect(out.bytes).toBe(Buffer.byteLength(whole.stdout) + 1); // and its newline
    expect(out.bytes).toBeGreaterThan(65_536);
    expect(out.exitCode).toBe(0);
  });

  it('rig logs: the node log, whole', async () => {
    const whole = await execa('node', [rigBin, 'logs', 'a', '--name', r.name], { env: { CI: 'true' } });
    expect(whole.stdout.split('\n').filter((l) => l === '0123456789abcdefghijklmnopqrstuvwxyz')).toHaveLength(5000);
    const out = await intoSlowPipe(['logs', 'a', '--name', r.name]);
    expect(out.bytes).toBe(Buffer.byteLength(whole.stdout) + 1);
    expect(out.bytes).toBeGreaterThan(65_536 * 2);
    expect(out.exitCode).toBe(0);
  });

  it('a reader that goes away ends rig as SIGPIPE would, with no crash: exit 141, a follower at its next line', async () => {
    // `head -c 1` takes a byte and goes: rig's next write finds no reader
    const script = (args: string) => `node ${rigBin} ${args} | head -c 1 >/dev/null; echo "exit \${PIPESTATUS[0]}"`;
    // each prints more than a pipe holds (64 KiB): a write finds the reader gone
    for (const args of [`logs a --name ${r.name}`, `exec a --name ${r.name} -- sh -c 'yes | head -c 1000000'`]) {
      const out = await execa('bash', ['-c', script(args)], { env: { CI: 'true' } });
      expect({ args, stdout: out.stdout, stderr: out.stderr }).toEqual({ args, stdout: 'exit 141', stderr: '' });
    }
    // a follower prints nothing until the next line comes: then it finds its reader gone, and ends
    const follow = execa('bash', ['-c', script(`logs -f a --name ${r.name}`)], { env: { CI: 'true' } });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await execa('node', [rigBin, 'exec', 'a', '--name', r.name, '--', 'sh', '-c', 'for i in 1 2 3; do echo more >/proc/1/fd/1; done']);
    const followed = await follow;
    expect({ stdout: followed.stdout, stderr: followed.stderr }).toEqual({ stdout: 'exit 141', stderr: '' });
  });
});
