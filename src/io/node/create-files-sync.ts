/**
 * Many small files created in one held directory in one go, with blocking calls, on a worker
 * thread of the pool: the restore side of read-files-sync.ts. Made one call at a time through
 * libuv's pool, a small file's create, write, owner, mode, xattrs, times and close cost a round
 * trip to the event loop each.
 *
 * The directory comes as the path Io.lendDirectory() gives (/proc/self/fd/N of the held handle,
 * which leads to that directory wherever it is now; rule D4); it is opened here for this job
 * and closed before the job ends, as is every file, so no descriptor outlives its job (rule H1).
 * A file opened with openat (koffi) is closed with libc's close too: Node's fs.closeSync on a
 * worker warns of a descriptor its fs did not open.
 * Each file is created exclusively and never through a symlink (O_EXCL | O_NOFOLLOW); a name
 * that is taken is sent back for the caller to clear. Metadata goes in the restorer's order:
 * owner, xattrs, then mode, ACL, security.capability and times, where the first failure of the
 * last four ends them (as Restorer's one attempt does); a failed metadata step is a warning.
 */
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { splitNames } from './read-files-sync.js';
import { onWorkerThread, sync } from './libc.js';

export interface NewFile {
  sizeBytes: number;
  owner: { uid: number; gid: number } | null;
  mode: number;
  /** Set after the owner and before the mode. */
  xattrsFirst: { name: string; value: Uint8Array }[];
  /** system.posix_acl_access, after the mode. */
  acl: Uint8Array | null;
  /** After the ACL (security.capability, which chown and chmod would clear). */
  xattrsLast: { name: string; value: Uint8Array }[];
  atimeNs: bigint;
  mtimeNs: bigint;
}

export interface StepFailure {
  errno: number;
  syscall: string;
  /** As Io's errors name it ("set mode of", "set xattr "user.a" of"). */
  operation: string;
}

export type NewFileOutcome =
  | { kind: 'created'; warnings: StepFailure[] }
  /** The name is taken: nothing was done to what is there. */
  | { kind: 'exists' }
  /** Not created, or created and removed again (its data could not be written). */
  | { kind: 'failed'; failure: StepFailure };

const errno = osConstants.errno;
const createFlags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Creates each file (names joined as joinNames() does, data one after another in `data`). */
export function createFilesSync(directoryPath: Uint8Array, joinedNames: Uint8Array, files: readonly NewFile[], data: ArrayBuffer): NewFileOutcome[] {
  const names = splitNames(joinedNames);
  const directory = fs.openSync(Buffer.from(directoryPath), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    let offset = 0;
    return files.map((file, index) => {
      const bytes = new Uint8Array(data, offset, file.sizeBytes);
      offset += file.sizeBytes;
      return createOne(directory, names[index]!, file, bytes);
    });
  } finally {
    fs.closeSync(directory);
  }
}

function createOne(directory: number, name: Buffer, file: NewFile, bytes: Uint8Array): NewFileOutcome {
  const opened = onWorkerThread.openAt(directory, name, createFlags, 0o600);
  if (opened.result < 0) {
    if (opened.errno === errno.EEXIST) return { kind: 'exists' };
    return { kind: 'failed', failure: { errno: opened.errno, syscall: 'openat', operation: 'open' } };
  }
  const fd = opened.result;
  try {
    let doneBytes = 0;
    while (doneBytes < bytes.length) doneBytes += fs.writeSync(fd, bytes, doneBytes, bytes.length - doneBytes, doneBytes);
  } catch (error) {
    sync.close(fd);
    removeAt(directory, name);
    return { kind: 'failed', failure: { errno: errnoOf(error), syscall: 'write', operation: 'write' } };
  }
  const warnings: StepFailure[] = [];
  const attempt = (step: () => StepFailure | null): boolean => {
    const failure = step();
    if (failure !== null) warnings.push(failure);
    return failure === null;
  };
  try {
    const { owner } = file;
    if (owner !== null) attempt(() => nodeCall(() => fs.fchownSync(fd, owner.uid, owner.gid), 'fchown', 'set owner of'));
    for (const xattr of file.xattrsFirst) attempt(() => setXattr(fd, xattr));
    // One attempt, as Restorer's: a failure of the mode or the ACL ends it (each xattr is its own).
    const modeAndAcl =
      attempt(() => nodeCall(() => fs.fchmodSync(fd, file.mode), 'fchmod', 'set mode of')) &&
      (file.acl === null || attempt(() => setXattr(fd, { name: 'system.posix_acl_access', value: file.acl! })));
    if (modeAndAcl) {
      for (const xattr of file.xattrsLast) attempt(() => setXattr(fd, xattr));
      const times = onWorkerThread.setTimesOf(fd, file.atimeNs, file.mtimeNs);
      if (times.result < 0) warnings.push({ errno: times.errno, syscall: 'futimens', operation: 'set times of' });
    }
  } finally {
    sync.close(fd);
  }
  return { kind: 'created', warnings };
}

function setXattr(fd: number, xattr: { name: string; value: Uint8Array }): StepFailure | null {
  const call = onWorkerThread.setXattr(fd, xattr.name, xattr.value);
  return call.result < 0 ? { errno: call.errno, syscall: 'setxattr', operation: `set xattr "${xattr.name}" of` } : null;
}

function nodeCall(call: () => void, syscall: string, operation: string): StepFailure | null {
  try {
    call();
    return null;
  } catch (error) {
    return { errno: errnoOf(error), syscall, operation };
  }
}

/** A file begun and not written is not left half-written; its removal failing leaves nothing more to do. */
function removeAt(directory: number, name: Buffer): void {
  try {
    fs.unlinkSync(Buffer.concat([Buffer.from(`/proc/self/fd/${directory}/`), name]));
  } catch {
    // Nothing more to do: the caller reports the failed write.
  }
}

function errnoOf(error: unknown): number {
  const value = (error as { errno?: unknown }).errno;
  return typeof value === 'number' ? Math.abs(value) : errno.EIO;
}
