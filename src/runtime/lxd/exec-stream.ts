import type { LxdClient, ExecOptions } from './api.js';
import { LxdWebSocket } from './websocket.js';

/**
 * A command in an instance with its streams live (what `rig exec`, `exec -it` and `logs -f` need), over LXD's exec
 * websockets: LXD starts the command once every one of them is connected. Without a terminal, stdin, stdout and
 * stderr are one websocket each; with one (`terminal`), its single stream carries both ways and a control websocket
 * resizes it. Closing the stdin websocket is the command's end of input; an empty message, or a websocket LXD
 * closes, is an end of output.
 */

export interface StreamedExecOptions extends ExecOptions {
  terminal?: { width: number; height: number }; // a pseudo-terminal (interactive); stderr then comes on stdout
  onStdout: (data: Buffer) => void;
  onStderr?: (data: Buffer) => void;
}

export interface StreamedExec {
  /** Bytes to the command's stdin. */
  write(data: Buffer | string): void;
  /** End of the command's input. */
  closeStdin(): void;
  /** The terminal's new size (with a terminal only). */
  resize(width: number, height: number): void;
  /** Send the command a signal (e.g. 15, SIGTERM). */
  signal(signal: number): void;
  /** The command's exit code, once it ended and its output has all come. */
  exitCode: Promise<number>;
}

type Fds = Record<string, string>; // "0", "1", "2", "control" -> the secret to connect with

export async function execStreamed(
  client: LxdClient,
  name: string,
  command: string[],
  options: StreamedExecOptions,
): Promise<StreamedExec> {
  const interactive = options.terminal !== undefined;
  const body = {
    command,
    environment: { ...(interactive ? { TERM: process.env.TERM ?? 'xterm' } : {}), ...options.env },
    cwd: options.cwd,
    user: options.user,
    interactive,
    width: options.terminal?.width,
    height: options.terminal?.height,
    'wait-for-websocket': true,
    'record-output': false,
  };
  const what = `exec in ${name}: ${command.join(' ')}`;
  const started = await client.transport.json<{ id: string; metadata: { fds: Fds } }>(
    'POST',
    `/1.0/instances/${encodeURIComponent(name)}/exec`,
    { body },
  );
  const op = started.metadata;
  const socketOf = (fd: string) =>
    `/1.0/operations/${encodeURIComponent(op.id)}/websocket?secret=${encodeURIComponent(op.metadata.fds[fd])}`;

  const outputs: Array<Promise<void>> = [];
  const connect = async (fd: string, onData?: (data: Buffer) => void) => {
    let closed!: () => void;
    if (onData) outputs.push(new Promise<void>((resolve) => (closed = resolve)));
    const ws: LxdWebSocket = await LxdWebSocket.connect(client.transport, socketOf(fd), {
      // An empty message is LXD's end of a stream (a terminal's, at least): it waits for rig to close it.
      onMessage: (data) => (data.length === 0 && onData ? ws.close() : onData?.(data)),
      onClose: () => closed?.(),
    });
    return ws;
  };
  // The control websocket first, as LXD's own client does; LXD starts the command once the last one is in.
  const control = await connect('control');
  const stdin = await connect('0', interactive ? options.onStdout : undefined);
  if (!interactive) {
    await connect('1', options.onStdout);
    await connect('2', options.onStderr ?? (() => undefined)); // stderr not wanted: still read, or the command could block on it
  }
  const exitCode = (async () => {
    const done = await client.wait(op.id, what, options.timeoutMs ?? 24 * 3600_000);
    await Promise.all(outputs); // the command ended: what it wrote is on its way, to the close of each stream
    control.close();
    return (done.metadata as { return?: number } | null)?.return ?? -1;
  })();
  return {
    write: (data) => stdin.send(typeof data === 'string' ? Buffer.from(data) : data),
    closeStdin: () => (interactive ? stdin.send(Buffer.from([4])) : stdin.close()), // a terminal's end of input is ^D
    resize: (width, height) =>
      control.send(JSON.stringify({ command: 'window-resize', args: { width: String(width), height: String(height) } })),
    signal: (signal) => control.send(JSON.stringify({ command: 'signal', signal })),
    exitCode,
  };
}
