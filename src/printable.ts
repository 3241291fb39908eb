/**
 * What nodes publish (facts, stages, logs) is data from inside a container: printed raw, an escape sequence in it
 * could clear the user's screen, set the window title or reorder text. Human output shows such characters as
 * visible escapes; --json keeps the exact value.
 */
// C0 controls, DEL, C1 controls, line and paragraph separators, bidi marks, embeddings, overrides and isolates.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_KEEP_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (ch: string) => {
  const code = ch.charCodeAt(0);
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** One value on one line: every control, separator and bidi character shown as an escape. */
export const printable = (text: string): string => text.replace(UNSAFE, escape);

/** A block of text (a log's tail, a command's output): newlines and tabs kept, everything else as above. */
export const printableLines = (text: string): string => text.replace(UNSAFE_KEEP_LINES, escape);
