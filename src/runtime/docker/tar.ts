/**
 * A tar archive (ustar, with a PAX header for a path or link too long for ustar's fields), as the Docker engine
 * takes a build context: enough for files, directories and symlinks, without a library for it.
 */
export interface TarEntry {
  path: string; // with / separators
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  content?: Buffer; // a file's
  target?: string; // a symlink's
}

const BLOCK = 512;

function header(name: string, size: number, mode: number, typeflag: string, linkname = ''): Buffer {
  const h = Buffer.alloc(BLOCK);
  const put = (value: string, offset: number, length: number) => h.write(value, offset, Math.min(Buffer.byteLength(value), length), 'utf8');
  const octal = (n: number, offset: number, length: number) => put(n.toString(8).padStart(length - 1, '0'), offset, length - 1);
  put(name, 0, 100);
  octal(mode, 100, 8);
  octal(0, 108, 8); // uid
  octal(0, 116, 8); // gid
  octal(size, 124, 12);
  octal(0, 136, 12); // mtime: a fixed one, as the hash of the context stands for the archive
  h.fill(' ', 148, 156); // the checksum field counts as spaces while it is computed
  put(typeflag, 156, 1);
  put(linkname, 157, 100);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8);
  return h;
}

const padding = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** A PAX extended header: `path` and `linkpath` records for names ustar cannot hold. */
function paxHeader(records: Record<string, string>): Buffer[] {
  const body = Buffer.from(
    Object.entries(records)
      .map(([key, value]) => {
        const text = ` ${key}=${value}\n`;
        let length = Buffer.byteLength(text);
        length += String(length + String(length).length).length; // the record counts its own length's digits
        return `${length}${text}`;
      })
      .join(''),
  );
  return [header('PaxHeader', body.length, 0o644, 'x'), body, padding(body.length)];
}

export function tarArchive(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const name = e.type === 'directory' ? `${e.path}/` : e.path;
    const long: Record<string, string> = {};
    if (Buffer.byteLength(name) > 100) long.path = name;
    if (e.target && Buffer.byteLength(e.target) > 100) long.linkpath = e.target;
    if (Object.keys(long).length) parts.push(...paxHeader(long));
    const size = e.type === 'file' ? (e.content?.length ?? 0) : 0;
    const flag = e.type === 'file' ? '0' : e.type === 'directory' ? '5' : '2';
    parts.push(header(name, size, e.mode, flag, e.target ?? ''));
    if (size) parts.push(e.content!, padding(size));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
