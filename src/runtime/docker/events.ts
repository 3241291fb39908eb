import { createInterface } from 'node:readline';

/**
 * Call `onLine` with each line of a Docker event stream (one JSON object a line). Chunks do not follow lines: an
 * event can arrive split across two, so the stream is read as lines, never chunk by chunk. `onEnd`, once, when the
 * stream ends, is closed, or is cut (the engine went away): a cut stream is an end, never an uncaught error.
 */
export function lineStream(stream: NodeJS.ReadableStream, onLine: (line: string) => void, onEnd: () => void = () => {}): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim()) onLine(line);
  });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  lines.on('error', end); // readline passes on the stream's error: ECONNRESET when dockerd stops
  stream.on('end', end);
  stream.on('close', end);
}
