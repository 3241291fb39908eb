import yaml from 'js-yaml';

/** A key path into the parsed document: map keys and list indexes. */
export type PathSeg = string | number;

export interface Position {
  line: number; // 1-based
  column: number; // 1-based
}

export interface ParsedYaml {
  value: unknown;
  /** Where the key of the entry at `path` is (a list item: the item). Unknown paths fall back to the nearest ancestor. */
  keyAt(path: PathSeg[]): Position;
  /** Where the value at `path` starts; for an empty value, where its key is. */
  valueAt(path: PathSeg[]): Position;
  /** Map keys that YAML reads as something other than a string (0x1f: the number 31), as written. */
  nonStringKeys: Array<{ path: PathSeg[]; written: string; read: unknown }>;
}

/** One composed YAML node, as seen through js-yaml's listener. */
interface Rec {
  start: number;
  end?: number;
  result?: unknown;
  children: Rec[];
}

/** Offsets of an entry's key and (non-empty) value. */
interface Entry {
  key?: number;
  value?: number;
}

/**
 * Parses YAML (core schema: no timestamps, so dates stay strings) and records where every key
 * and value starts. Throws js-yaml's YAMLException on syntax errors, including duplicate keys.
 */
export function parseYaml(input: string): ParsedYaml {
  // js-yaml drops a BOM itself, which would shift every offset by one.
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const root: Rec = { start: 0, children: [] };
  const stack: Rec[] = [root];
  const value = yaml.load(text, {
    schema: yaml.CORE_SCHEMA,
    listener(event, state) {
      if (event === 'open') {
        stack.push({ start: state.position, children: [] });
        return;
      }
      const rec = stack.pop()!;
      rec.result = state.result;
      rec.end = state.position;
      // Block sequence items and explicit keys come wrapped in a record holding the same value.
      const only = rec.children.length === 1 ? rec.children[0] : undefined;
      stack[stack.length - 1].children.push(only && Object.is(only.result, rec.result) ? only : rec);
    },
  });

  const entries = new Map<string, Entry>();
  const nonStringKeys: ParsedYaml['nonStringKeys'] = [];
  const keyOf = (path: PathSeg[]) => JSON.stringify(path.map(String));
  const valueStart = (rec: Rec) => (rec.result === null || rec.result === undefined ? undefined : rec.start);
  const walk = (rec: Rec, path: PathSeg[]): void => {
    const { result, children } = rec;
    if (Array.isArray(result)) {
      if (children.length !== result.length) return;
      children.forEach((child, i) => {
        entries.set(keyOf([...path, i]), { key: child.start, value: valueStart(child) });
        walk(child, [...path, i]);
      });
    } else if (typeof result === 'object' && result !== null) {
      for (let i = 0; i + 1 < children.length; i += 2) {
        const key = children[i];
        const p = [...path, String(key.result)];
        if (typeof key.result !== 'string') {
          nonStringKeys.push({ path: p, written: text.slice(skipBlank(text, key.start), key.end).trim(), read: key.result });
        }
        entries.set(keyOf(p), { key: children[i].start, value: valueStart(children[i + 1]) });
        walk(children[i + 1], p);
      }
    }
  };
  const top = root.children[0];
  if (top) {
    entries.set(keyOf([]), { value: valueStart(top) });
    walk(top, []);
  }

  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const toPosition = (offset: number): Position => {
    offset = skipBlank(text, offset);
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
  };

  const keyAt = (path: PathSeg[]): Position => {
    for (let n = path.length; n >= 0; n--) {
      const e = entries.get(keyOf(path.slice(0, n)));
      const offset = e?.key ?? e?.value;
      if (offset !== undefined) return toPosition(offset);
    }
    return { line: 1, column: 1 };
  };
  const valueAt = (path: PathSeg[]): Position => {
    const offset = entries.get(keyOf(path))?.value;
    return offset === undefined ? keyAt(path) : toPosition(offset);
  };
  return { value, keyAt, valueAt, nonStringKeys };
}

/** js-yaml's node start offsets can sit before the spaces, line breaks and comments leading up to the node. */
function skipBlank(text: string, offset: number): number {
  while (offset < text.length) {
    const c = text[offset];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') offset++;
    else if (c === '#') while (offset < text.length && text[offset] !== '\n') offset++;
    else break;
  }
  return offset;
}

/** `nodes["barn.village.test"].image`, `configs[1].file`, `facts.role`. */
export function formatPath(path: PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
