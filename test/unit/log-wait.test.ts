import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { waitForLog, watchLog } from '../../src/runtime/docker/containers.js';

/** One of Docker's multiplexed log frames (stdout). */
const frame = (text: string) => {
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(Buffer.byteLength(text), 4);
  return Buffer.concat([header, Buffer.from(text)]);
};

/** A Docker whose container log is `log`, a stream the test writes to; `asked` holds the query of each follow. */
function dockerWithLog() {
  const log = new PassThrough();
  const asked: Array<Record<string, unknown>> = [];
  const docker = {
    modem: {
      dial: (options: { options: Record<string, unknown> }, done: (err: Error | null, stream: unknown) => void) => {
        asked.push(options.options);
        done(null, log);
      },
    },
  } as unknown as Docker;
  return { docker, log, asked };
}

describe('waiting for lines of a container log', () => {
  it('resolves once each pattern has matched a line, whichever comes first, lines split across frames', async () => {
    const { docker, log } = dockerWithLog();
    const wait = waitForLog(docker, 'c1', [/dnsmasq serves/, /etcd serves/], 5000);
    log.write(frame('starting\netcd ser'));
    log.write(frame('ves clients\n'));
    let done = false;
    void wait.then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false); // one of two
    log.write(frame('dnsmasq serves DHCP\n'));
    await wait;
    expect(log.destroyed).toBe(true); // no longer followed
  });

  it('does not match a pattern across two lines', async () => {
    const { docker, log } = dockerWithLog();
    const wait = waitForLog(docker, 'c1', [/etcd serves/], 5000);
    log.write(frame('etcd\nserves\n'));
    log.end();
    await expect(wait).rejects.toThrow('exited before it was ready; its log ends:\netcd\nserves');
  });

  it('rejects at its deadline with the last lines of the log only', async () => {
    const { docker, log } = dockerWithLog();
    const wait = waitForLog(docker, 'c1', [/never/], 100);
    for (let i = 1; i <= 20; i++) log.write(frame(`line ${i}\n`));
    await expect(wait).rejects.toThrow(/^not ready after 0.1 s; its log ends:\nline 13\n(.*\n){6}line 20$/);
  });

  it('follows only what comes next when asked, from the moment it resolves', async () => {
    const { docker, log, asked } = dockerWithLog();
    const said = await watchLog(docker, 'c1', [/lets the nodes in/], 5000, { newOnly: true });
    expect(asked[0]).toMatchObject({ follow: true, tail: 0 });
    log.write(frame('rig-sidecar: etcd lets the nodes in\n'));
    await said();
  });
});
