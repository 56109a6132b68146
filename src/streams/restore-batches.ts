/**
 * RestoreBatches: many small files created in one held directory at once, where the machine
 * allows it (engine/restore-batches.ts runs them as jobs on the worker threads, with blocking
 * calls: io/node/create-files-sync.ts). The Restorer uses them when given them; without them
 * (the simulator, or a batch that cannot run) it makes each file the call-by-call way through Io.
 */
import type { Xattr } from '../format/entry.js';
import type { Handle } from '../io/handle.js';

export interface RestoreBatches {
  /** Regular files without holes of at most this size are created through createFiles(). */
  readonly fileBytesMax: number;
  /** Creates each file in `directory`, in order; null when it cannot here (nothing was done). */
  createFiles(directory: Handle<'directory'>, files: readonly FileToCreate[]): Promise<CreatedFile[] | null>;
}

/** A file's name in its directory, its bytes, and its metadata as the Restorer would set it. */
export interface FileToCreate {
  name: Buffer;
  data: Buffer;
  owner: { uid: number; gid: number } | null;
  mode: number;
  /** Set after the owner, before the mode. */
  xattrsFirst: Xattr[];
  /** The encoded access ACL, set after the mode. */
  acl: Buffer | null;
  /** After the ACL: security.capability, which chown and chmod clear. */
  xattrsLast: Xattr[];
  atimeNs: bigint;
  mtimeNs: bigint;
}

export type CreatedFile =
  /** Made, with each metadata step that failed (the file is there, not exactly as it was). */
  | { kind: 'created'; warnings: Error[] }
  /** The name is taken; nothing was done to what is there. */
  | { kind: 'exists' }
  /** Not made (or removed again after its data could not be written). */
  | { kind: 'failed'; error: Error };
