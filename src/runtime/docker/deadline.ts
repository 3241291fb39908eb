import type Docker from 'dockerode';
import { ExitCode, RigError } from '../../errors.js';

/**
 * How long the Docker engine may take to answer one call (a stream: to begin its answer). Calls are paced (see
 * pacing.ts), so this is one call's time in the engine, not its wait for a turn; on a loaded 2-core machine a
 * create or a remove answers in seconds. An engine that takes longer is hung (Docker 20.10 deadlocked once under
 * 160 concurrent removes): waiting longer would only hang rig with it.
 */
export const ENGINE_ANSWER_MS = 60_000;

interface DialOptions {
  method: string;
  path: string;
  options?: Record<string, unknown>;
  file?: unknown; // a request body streamed from a file or stream (a build context, an image import)
  abortSignal?: AbortSignal;
}
type Dial = (options: DialOptions, callback: (err: unknown, data: unknown) => void) => void;

/**
 * Give every call to the engine a deadline: one that gets no answer within `ms` fails with a RigError that says
 * so (the request is dropped), and so does every call for the next `ms` after it, at once: an engine that stopped
 * answering does not come back by itself, and what is left to do without it (the host's wiring, firewall rules,
 * symlinks) is done at once, so the command ends. A long-lived process (the keeper) tries the engine again after
 * that. Exempt: calls that send a body of their own size (builds and imports, which the engine reads as it goes);
 * a stop has its grace on top.
 */
export function answerWithin(docker: Docker, ms = ENGINE_ANSWER_MS): void {
  const modem = docker.modem as unknown as { dial: Dial };
  const dial = modem.dial.bind(modem);
  let hung: { error: RigError; until: number } | undefined;
  modem.dial = (options, callback) => {
    if (options.file) return dial(options, callback);
    if (hung && Date.now() < hung.until) return void process.nextTick(() => callback(hung!.error, undefined));
    const limit = ms + graceOf(options);
    const drop = new AbortController();
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      hung = { error: notAnswered(options, limit), until: Date.now() + ms };
      drop.abort(hung.error);
      callback(hung.error, undefined);
    }, limit);
    const abortSignal = options.abortSignal ? AbortSignal.any([options.abortSignal, drop.signal]) : drop.signal;
    dial({ ...options, abortSignal }, (err, data) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      callback(err, data);
    });
  };
}

/** A stop's own wait (`t` seconds) before the engine kills the container, on top of the deadline. */
function graceOf(options: DialOptions): number {
  const seconds = Number(options.options?.t);
  return /\/stop\?/.test(options.path) && Number.isFinite(seconds) ? seconds * 1000 : 0;
}

function notAnswered(options: DialOptions, ms: number): RigError {
  const call = `${options.method} ${options.path.split('?')[0]}`;
  return new RigError(
    `The Docker engine did not answer ${call} within ${ms / 1000} s: it is hung or overloaded.`,
    'see whether it answers (docker info) and its log; restart it if it is hung, then remove what is left with: rig down --name RIG',
    ExitCode.engineUnavailable,
  );
}
