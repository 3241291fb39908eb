import { createInterface } from 'node:readline';

/**
 * Call `onLine` with each line of a Docker event stream (one JSON object a line). Chunks do not follow lines: an
 * event can arrive split across two, so the stream is read as lines, never chunk by chunk.
 */
export function lineStream(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim()) onLine(line);
  });
}
