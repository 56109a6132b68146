/**
 * Operating failures: every error a user can meet carries a stable `code`, the operation that
 * failed and the path it concerned. Messages read `Cannot <operation> "<path>": <reason>`.
 *
 * Codes of holdfast's own checks start with HOLDFAST_; a failed system call keeps the errno name
 * as its code (ENOENT, EIO, ENOSPC...) as Node does, so callers can test `error.code === 'ENOSPC'`.
 */
import { getSystemErrorName } from 'node:util';
import { constants } from 'node:os';

export type HoldfastErrorCode =
  | 'HOLDFAST_HANDLE_CLOSED'
  | 'HOLDFAST_HANDLE_KIND'
  | 'HOLDFAST_NOT_SEEKABLE'
  | 'HOLDFAST_NOT_READABLE'
  | 'HOLDFAST_NOT_WRITABLE'
  | 'HOLDFAST_MODE_UNSUPPORTED'
  | 'HOLDFAST_LEASE_STATE'
  | 'HOLDFAST_ABORTED'
  /** Input (a stream, an archive) is not well formed: bad magic, checksum, field or order. */
  | 'HOLDFAST_FORMAT_INVALID'
  /** Input ended in the middle of an entry or before its end marker. */
  | 'HOLDFAST_FORMAT_TRUNCATED'
  /** A stream of a version this reader does not know. */
  | 'HOLDFAST_FORMAT_VERSION'
  /** Input exceeds a limit on a size or count (a header, a name, a record, a map). */
  | 'HOLDFAST_LIMIT_EXCEEDED'
  /** An entry would create, change or follow something outside the target directory. */
  | 'HOLDFAST_UNSAFE_PATH'
  /** Data did not match the byte count its header promised. */
  | 'HOLDFAST_SIZE_MISMATCH'
  /** No repository where one was named (exit code 10). */
  | 'HOLDFAST_NO_REPOSITORY'
  /** A repository already exists where `init` was asked to make one. */
  | 'HOLDFAST_REPOSITORY_EXISTS'
  /** A directory that must be empty or new (for a new repository) holds other files. */
  | 'HOLDFAST_NOT_EMPTY'
  /** No key file of the repository opens with the password given (exit code 12). */
  | 'HOLDFAST_WRONG_PASSWORD'
  /** Stored bytes failed authentication or their id: damaged or tampered with. */
  | 'HOLDFAST_INTEGRITY'
  /** Something the repository references is not there (a pack, a blob, a snapshot). */
  | 'HOLDFAST_MISSING'
  /** A snapshot name that matches no snapshot, or more than one. */
  | 'HOLDFAST_NO_SNAPSHOT'
  /** A worker thread of the pool died or failed a job in a way that is not the job's own error. */
  | 'HOLDFAST_WORKER_FAILED'
  /** A command-line or API argument that cannot be used. */
  | 'HOLDFAST_USAGE'
  /** Another process holds a lock that conflicts with the one asked for (exit code 11). */
  | 'HOLDFAST_LOCKED'
  /** This process's lock was removed as stale or could not be refreshed in time (exit code 11). */
  | 'HOLDFAST_LOCK_LOST'
  /** The operation was stopped early, at a safe point: SIGINT (exit code 130) or a closed stdout (141). */
  | 'HOLDFAST_INTERRUPTED';

export interface ErrorContext {
  operation: string;
  path: string;
  cause?: unknown;
}

export class HoldfastError extends Error {
  override name = 'HoldfastError';
  readonly code: string;
  readonly operation: string;
  readonly path: string;

  constructor(code: string, context: ErrorContext, reason: string) {
    super(`Cannot ${context.operation} "${context.path}": ${reason}`, { cause: context.cause });
    this.code = code;
    this.operation = context.operation;
    this.path = context.path;
  }
}

/** A check of holdfast's own failed (a closed handle, a wrong mode). */
export function holdfastError(
  code: HoldfastErrorCode,
  context: ErrorContext,
  reason: string,
): HoldfastError {
  return new HoldfastError(code, context, reason);
}

/** A system call failed; `code` is the errno name and `errno` its positive number. */
export class SystemCallError extends HoldfastError {
  override name = 'SystemCallError';
  readonly errno: number;
  readonly syscall: string;

  constructor(errno: number, syscall: string, context: ErrorContext) {
    const name = errnoName(errno);
    super(name, context, `${name} (${syscall} failed)`);
    this.errno = errno;
    this.syscall = syscall;
  }
}

export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `errno ${errno}`;
  }
}

export function errnoNumber(name: keyof typeof constants.errno): number {
  return constants.errno[name];
}

/** Turns a Node fs error (code ENOENT, errno -2) into a SystemCallError with our context. */
export function fromNodeError(error: unknown, syscall: string, context: ErrorContext): Error {
  if (error instanceof HoldfastError) return error;
  if (error instanceof Error && 'errno' in error && typeof error.errno === 'number') {
    return new SystemCallError(Math.abs(error.errno), syscall, { ...context, cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

export function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code;
}
