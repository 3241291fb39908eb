import { existsSync } from 'node:fs';
import type Docker from 'dockerode';
import { ExitCode, RigError } from '../../errors.js';
import { answerWithin } from './deadline.js';
import { EngineAbsent } from '../runtime.js';
import { loadDockerode } from './load-dockerode.js';

/** Connect to the Docker engine (DOCKER_HOST or the local socket) and check that it answers; every call has a deadline. */
export async function connectDocker(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const docker = await dockerOnFirstCall(env);
  await docker.ping();
  return docker;
}

/**
 * The Docker engine, reached only when rig first calls it: until then nothing connects (a rig whose every part is on
 * LXD runs with no Docker engine on the host at all). The first call pings it first, so an engine that is not there
 * is said as at start (exit 3) whatever the call; a failed ping is tried again by the next call.
 */
export async function dockerOnFirstCall(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const Dockerode = await loadDockerode();
  const docker = env.DOCKER_HOST ? new Dockerode() : new Dockerode({ socketPath: '/var/run/docker.sock' });
  answerWithin(docker);
  const where = env.DOCKER_HOST ?? '/var/run/docker.sock';
  type Dial = (options: object, callback: (err: unknown, data: unknown) => void) => void;
  const modem = docker.modem as unknown as { dial: Dial };
  const dial = modem.dial.bind(modem);
  let answered: Promise<void> | undefined;
  const ping = () =>
    new Promise<void>((resolve, reject) =>
      dial({ path: '/_ping?', method: 'GET', statusCodes: { 200: true, 500: 'server error' } }, (err) =>
        err ? reject(err instanceof RigError ? err : engineError(err, where)) : resolve(),
      ),
    );
  modem.dial = (options, callback) => {
    answered ??= ping().catch((err: unknown) => {
      answered = undefined;
      throw err;
    });
    answered.then(
      () => dial(options, callback),
      (err: unknown) => callback(err, undefined),
    );
  };
  return docker;
}

/** Whether a Docker engine may answer: its Unix socket is there (DOCKER_HOST's, or the default), or DOCKER_HOST is not a socket. */
export function dockerMayBeHere(env: NodeJS.ProcessEnv): boolean {
  const host = env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) return true;
  return existsSync(host ? host.slice('unix://'.length) : '/var/run/docker.sock');
}

function engineError(err: unknown, where: string): RigError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new RigError(
      `No permission to use the Docker engine at ${where}.`,
      'run rig as root, or add your user to the docker group (usermod -aG docker $USER) and log in again',
      ExitCode.engineUnavailable,
    );
  }
  return new EngineAbsent(
    `No Docker engine answers at ${where} (${code ?? (err as Error)?.message}).`,
    'start it (systemctl start docker, or: nohup dockerd >/var/log/dockerd.log 2>&1 &), or set DOCKER_HOST',
    ExitCode.engineUnavailable,
  );
}

/** How the engine went away, if `err` (or an error it was caused by) says it did: a cut, refused or vanished socket. */
function engineGone(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    if ((e as Error).name === 'EtcdUnanswered') return undefined; // the rig's etcd (its socket reset), not the engine
    if ((e as Error).name === 'LxdError') return undefined; // LXD's daemon, not Docker's (lxd/registry.ts says so)
    const code = (e as NodeJS.ErrnoException).code;
    const message = (e as Error).message ?? '';
    if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE'].includes(code ?? '')) return code;
    if (/socket hang up/.test(message)) return 'socket hang up';
    if (code === 'ENOENT' && /\.sock\b/.test(message)) return `${code}: its socket is gone`;
  }
  return undefined;
}

export const ENGINE_STOPPED = 'The Docker engine stopped answering';

/**
 * The Docker engine went away under a call (dockerd stopped or restarting): the engine's failure, not a bug of
 * rig's. A RigError that says so (exit 1), with what rig was doing as its detail; undefined for any other error.
 */
export function engineStopped(err: unknown, rig?: string): RigError | undefined {
  const how = engineGone(err);
  if (!how) return undefined;
  if (err instanceof RigError && err.message.startsWith(ENGINE_STOPPED)) return err;
  return new RigError(
    `${ENGINE_STOPPED} (${how}).`,
    `check that dockerd runs (docker info); once it answers, remove what is left with: rig down --name ${rig ?? 'NAME'} (rig ls lists the rigs)`,
    ExitCode.failed,
    { cause: err, detail: err instanceof RigError ? `rig was at: ${err.message}` : undefined },
  );
}

/** Docker answers "no such container/network" with 404; on teardown that counts as done. */
export function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number })?.statusCode === 404;
}

/** 409: a name taken (container, network), or a removal already under way. */
export function isConflict(err: unknown): boolean {
  return (err as { statusCode?: number })?.statusCode === 409;
}

/**
 * Docker refuses a network whose subnet overlaps another's with a plain error (no status of its own): the one
 * engine answer rig reads by its text, here and nowhere else.
 */
export function isPoolOverlap(err: unknown): boolean {
  return /overlap/i.test((err as Error)?.message ?? '');
}

/** Read a Docker progress stream (build, import) to its end, passing each line on; reject on an error event. */
export function followStream(docker: Docker, stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: Array<{ error?: string }>) => {
        const failed = err?.message ?? events.find((e) => e.error)?.error;
        if (failed) reject(new Error(failed));
        else resolve();
      },
      (event: { stream?: string; status?: string; error?: string }) => {
        const text = (event.stream ?? event.status ?? '').trim();
        if (text) onLine(text);
      },
    );
  });
}

/** Every Docker API call (method, path, status, time), told to `tell` as it ends (rig --verbose). */
export function observeDocker(docker: Docker, tell: (message: string, fields: Record<string, unknown>) => void): void {
  const modem = docker.modem as unknown as {
    dial(options: { method: string; path: string }, callback: (err: unknown, data: unknown) => void): void;
  };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    const start = performance.now();
    dial(options, (err, data) => {
      const status = err ? ((err as { statusCode?: number }).statusCode ?? 'error') : 'ok';
      const ms = Math.round(performance.now() - start);
      tell(`docker ${options.method} ${options.path.split('?')[0]}: ${status}, ${ms} ms`, {
        engine: 'docker',
        method: options.method,
        path: options.path,
        status,
        ms,
      });
      callback(err, data);
    });
  };
}
