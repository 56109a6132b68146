/**
 * What a backup leaves out, as restic's exclude options say it (the CLI and any other front end
 * share this): glob patterns (case-sensitive and not, absolute ones against the file's real
 * path), directories marked by a file (--exclude-if-present NAME, --exclude-caches for
 * CACHEDIR.TAG with its signature), and files larger than a size.
 *
 * A marked directory is kept, with its marker file, and everything else in it is left out, as
 * GNU tar's --exclude-tag and the CACHEDIR.TAG specification say: a restore shows that there was
 * a cache there. Whether a directory is marked is asked once per directory (an lstat, and for a
 * signature a read of its first bytes), through Io.
 */
import { isErrorCode } from '../errors/holdfast-error.js';
import type { FileStat } from '../io/backend.js';
import type { Io } from '../io/io.js';
import { readOnce } from '../io/transfer.js';
import type { BufferPool } from '../io/buffer-pool.js';
import { compileGlobs } from './globs.js';

/** The signature a CACHEDIR.TAG begins with (https://bford.info/cachedir/). */
export const cacheDirectoryTag = { name: 'CACHEDIR.TAG', signature: Buffer.from('Signature: 8a477f597d28d172789f06886806bc55') } as const;

export interface MarkerFile {
  name: string;
  /** The bytes the file must begin with, or null: present is enough. */
  signature: Buffer | null;
}

export interface BackupFilterOptions {
  patterns: readonly string[];
  patternsCaseInsensitive: readonly string[];
  markers: readonly MarkerFile[];
  /** Regular files larger than this are left out; null: no limit. */
  sizeBytesMax: number | null;
  /** A small buffer to read markers' signatures into. */
  pool: BufferPool;
}

export type BackupExclude = (name: Buffer, stat: FileStat, path: Buffer) => Promise<boolean>;

/** Directories whose marking is remembered: the walk is depth first, so a few levels suffice. */
const markedDirectoriesRememberedMax = 4096;

export function backupFilter(io: Io, options: BackupFilterOptions): BackupExclude | undefined {
  const exact = compileGlobs(options.patterns);
  const anyCase = compileGlobs(options.patternsCaseInsensitive, { caseInsensitive: true });
  const marked = new Map<string, Promise<string | null>>();
  const hasRules = options.patterns.length + options.patternsCaseInsensitive.length + options.markers.length > 0 || options.sizeBytesMax !== null;
  if (!hasRules) return undefined;
  return async (name, stat, path) => {
    const nameText = name.toString('utf8');
    const pathText = path.toString('utf8');
    if (exact(nameText, pathText) || anyCase(nameText, pathText)) return true;
    if (options.sizeBytesMax !== null && stat.kind === 'file' && stat.sizeBytes > options.sizeBytesMax) return true;
    if (options.markers.length === 0) return false;
    const slash = path.lastIndexOf(0x2f);
    if (slash <= 0) return false;
    const directory = path.subarray(0, slash);
    const key = directory.toString('latin1');
    let marker = marked.get(key);
    if (marker === undefined) {
      if (marked.size >= markedDirectoriesRememberedMax) marked.clear();
      marker = markerIn(io, directory, options);
      marked.set(key, marker);
    }
    const markerName = await marker;
    return markerName !== null && path.subarray(slash + 1).toString('utf8') !== markerName;
  };
}

/** The name of the first marker file `directory` holds, or null. */
async function markerIn(io: Io, directory: Buffer, options: BackupFilterOptions): Promise<string | null> {
  for (const marker of options.markers) {
    const path = Buffer.concat([directory, Buffer.from(`/${marker.name}`)]);
    try {
      const stat = await io.lstat(path);
      if (stat.kind !== 'file') continue;
      if (marker.signature === null || (await beginsWith(io, path, marker.signature, options.pool))) return marker.name;
    } catch (error) {
      if (isErrorCode(error, 'ENOENT') || isErrorCode(error, 'EACCES')) continue;
      throw error;
    }
  }
  return null;
}

async function beginsWith(io: Io, path: Buffer, signature: Buffer, pool: BufferPool): Promise<boolean> {
  const handle = await io.openFile(path, { noFollow: true });
  const lease = await pool.acquire();
  try {
    const count = await readOnce(io, handle, lease, { position: 0, lengthBytes: signature.length });
    return count === signature.length && lease.bytes.subarray(0, count).equals(signature);
  } finally {
    lease.release();
    await handle.close();
  }
}

/**
 * `exclude`, and also the directory with `identity`: the repository itself, when a backup walks
 * into it (`backup /`, or $HOME with the embedded default under ~/.local/share). Its packs would
 * otherwise be stored in themselves, and every backup would grow it by its own size.
 */
export function excludingDirectory(exclude: BackupExclude | undefined, identity: { device: bigint; inode: bigint }, onLeftOut: (path: Buffer) => void): (name: Buffer, stat: FileStat, path: Buffer) => boolean | Promise<boolean> {
  // Not async: without other rules, an entry that is not the repository costs no promise.
  return (name, stat, path) => {
    if (stat.kind === 'directory' && stat.device === identity.device && stat.inode === identity.inode) {
      onLeftOut(path);
      return true;
    }
    return exclude === undefined ? false : exclude(name, stat, path);
  };
}
