/**
 * FileBatches: a directory's names stat-ed, and its small files read, many at a time, where the
 * machine allows it (engine/file-batches.ts runs them as jobs on the worker threads, with
 * blocking calls: io/node/read-files-sync.ts). The walker uses them when given them; without
 * them (the simulator) it makes its calls one at a time through Io.
 */
import type { Xattr } from '../format/entry.js';
import type { FileStat } from '../io/file-stat.js';

export interface FileBatches {
  /** Regular files of at most this size are read through read(). */
  readonly fileBytesMax: number;
  /**
   * The names in `directory` sorted bytewise; for a directory of at most scanStatsMax names also
   * each one's lstat and, for directories and symlinks, their xattrs and link targets.
   */
  scan(directory: Buffer): Promise<ScannedDirectory>;
  /** lstat of each name in `directory`, in order: its stat, or the error that refused it. */
  lstat(directory: Buffer, names: readonly Buffer[]): Promise<(FileStat | Error)[]>;
  /** Reads each file whole, in order, telling for each what became of it. */
  read(files: readonly FileToBatch[]): Promise<BatchedFile[]>;
}

export interface FileToBatch {
  path: Buffer;
  /** Its lstat: what is read must still be this file (device and inode) of this size. */
  stat: FileStat;
}

export type BatchedFile =
  /** Read whole: every xattr (ACLs among them), the bytes, and an fstat taken after the read. */
  | { kind: 'read'; xattrs: Xattr[]; data: Buffer; after: FileStat }
  /** A system call failed: the entry is left out and the error reported. */
  | { kind: 'failed'; error: Error }
  /** The path now names another file than the one lstat saw. */
  | { kind: 'replaced' }
  /** Not read there (holes, or a size that moved): the walker reads it the call-by-call way. */
  | { kind: 'elsewhere' };

/** Directories with more names than this are scanned for names only; their stats come by lstat(). */
export const scanStatsMax = 4096;

export interface ScannedDirectory {
  names: Buffer[];
  /** Each name's lstat or the error that refused it; null for a directory of more than scanStatsMax names. */
  stats: (FileStat | Error)[] | null;
  /** A directory's or symlink's xattrs and link target, read with its lstat; null where not read. */
  extras: (ScannedExtras | null)[] | null;
}

export interface ScannedExtras {
  xattrs: Xattr[];
  linkTarget: Buffer | null;
}
