/**
 * Backend: where a repository's files live. One contract for every kind of storage (a local
 * directory today; object stores later), so the repository code above never knows which.
 *
 * Files are immutable: a name is written once, completely and durably, or not at all; they are
 * never rewritten in place. Names are 64 hex characters (the hash of the file's bytes), except
 * the one `config` file.
 *
 * Errors: a missing file is code ENOENT; every other failure keeps the system's code (EIO,
 * ENOSPC, EACCES) with the operation and the path. None is retried here.
 */
export type FileKind = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks';

export const fileKinds: readonly FileKind[] = ['keys', 'data', 'index', 'snapshots', 'locks'];

/**
 * The largest whole file of each kind a backend loads (rule D2): a file planted in a repository
 * (a 10 GB "snapshot") is refused with HOLDFAST_LIMIT_EXCEEDED before it is read, never read into
 * memory. Far above what holdfast writes: a config or key is under 1 KiB, a lock under 1 KiB, a
 * snapshot a few KiB (its paths and tags), an index file 64 packs of blobs (a few MiB), a pack
 * about 16 MiB. A range of a file is bounded by the range asked for instead.
 */
export const wholeFileBytesMax: Readonly<Record<FileKind, number>> = {
  config: 64 * 1024,
  keys: 64 * 1024,
  locks: 64 * 1024,
  snapshots: 64 * 1024 * 1024,
  index: 1024 * 1024 * 1024,
  data: 1024 * 1024 * 1024,
};

export interface StoredFile {
  name: string;
  sizeBytes: number;
}

export interface ByteRange {
  offsetBytes: number;
  lengthBytes: number;
}

export interface SaveOptions {
  /**
   * Store the file only if the name is free: EEXIST, with the stored file left as it was, when it
   * is taken. Of several savers racing for one name exactly one succeeds. A new repository's
   * config is saved so, which makes it the one step that decides which init made the repository.
   */
  createOnly?: boolean;
}

export interface Backend {
  /** Where the repository is, for messages ("/srv/backups/repo"). */
  readonly location: string;
  /** Makes the directory structure of an empty repository. */
  create(): Promise<void>;
  /**
   * Stores `bytes` under kind/name: the file is complete and durable (file and directory synced)
   * when the promise resolves. The caller keeps ownership of `bytes`; they are not kept.
   */
  save(kind: FileKind, name: string, bytes: Uint8Array, options?: SaveOptions): Promise<void>;
  /**
   * The whole file, or a range of it; a file shorter than the range is HOLDFAST_FORMAT_TRUNCATED,
   * a whole file over wholeFileBytesMax of its kind HOLDFAST_LIMIT_EXCEEDED (nothing read).
   * The Buffer is the caller's and spans exactly its own ArrayBuffer (it can be transferred).
   */
  load(kind: FileKind, name: string, range?: ByteRange): Promise<Buffer>;
  /**
   * The files of a kind, in no particular order; temporary files are never listed. A file
   * removed while the listing runs may be listed or not, and never fails it: another process
   * (a lock released, a prune deleting packs, a forget) may remove files at any time, so a
   * caller that then loads a listed file must take ENOENT as "gone", not as damage.
   */
  list(kind: FileKind): Promise<StoredFile[]>;
  /** Releases what the backend keeps between calls (open files); it is not used after. */
  close(): Promise<void>;
  /**
   * The names at the top of the location (files and directories, temporary ones included), to
   * tell an empty place from a foreign one before a repository is made or opened there; [] when
   * the location does not exist. ENOTDIR when it is not a directory.
   */
  topLevelNames(): Promise<string[]>;
  /** Size of one file; ENOENT when it is missing. */
  stat(kind: FileKind, name: string): Promise<StoredFile>;
  remove(kind: FileKind, name: string): Promise<void>;
}
