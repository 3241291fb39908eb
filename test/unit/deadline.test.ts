import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { answerWithin } from '../../src/runtime/docker/deadline.js';
import { ExitCode, RigError } from '../../src/errors.js';

type Callback = (err: unknown, data: unknown) => void;

/** A Docker client whose engine answers only the calls `answers` says it does. */
function engine(answers: (path: string) => boolean) {
  const seen: Array<{ path: string; signal?: AbortSignal }> = [];
  const modem = {
    dial: (options: { path: string; abortSignal?: AbortSignal }, callback: Callback) => {
      seen.push({ path: options.path, signal: options.abortSignal });
      if (answers(options.path)) setImmediate(() => callback(null, 'ok'));
    },
  };
  const dial = (options: object) =>
    new Promise((resolve, reject) => modem.dial(options as never, (err, data) => (err ? reject(err) : resolve(data))));
  return { docker: { modem } as unknown as Docker, dial, seen };
}

describe("the engine's answer deadline", () => {
  it('fails a call the engine does not answer in time with a RigError (exit 3), drops it, and fails the calls after it at once for a while', async () => {
    const { docker, dial, seen } = engine((path) => !path.startsWith('/containers/create'));
    answerWithin(docker, 30);
    expect(await dial({ method: 'GET', path: '/_ping' })).toBe('ok');
    const hung = await dial({ method: 'POST', path: '/containers/create?name=n1' }).catch((err: unknown) => err);
    expect(hung).toBeInstanceOf(RigError);
    expect((hung as RigError).message).toContain('The Docker engine did not answer POST /containers/create within 0.03 s');
    expect((hung as RigError).exitCode).toBe(ExitCode.engineUnavailable);
    expect(seen[1].signal?.aborted).toBe(true); // the request itself is dropped
    const start = Date.now();
    await expect(dial({ method: 'GET', path: '/_ping' })).rejects.toBe(hung);
    expect(seen).toHaveLength(2); // not even sent
    expect(Date.now() - start).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 40));
    expect(await dial({ method: 'GET', path: '/_ping' })).toBe('ok'); // a while later, the engine is asked again
  });

  it('gives a stop its own grace on top, and leaves a call that sends a body of its own (a build) to run as long as it takes', async () => {
    const { docker, dial } = engine(() => false);
    answerWithin(docker, 30);
    const stop = dial({ method: 'POST', path: '/containers/x/stop?', options: { t: 0.2 } });
    const build = dial({ method: 'POST', path: '/build?', file: 'context.tar' });
    let stopped = false;
    void stop.catch(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped).toBe(false); // 30 ms + 200 ms
    await expect(stop).rejects.toThrow('did not answer POST /containers/x/stop within 0.23 s');
    let built = false;
    void build.then(() => (built = true)).catch(() => (built = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(built).toBe(false);
  });
});
