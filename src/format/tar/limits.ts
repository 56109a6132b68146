/**
 * Limits on what a tar archive may declare, because an archive is hostile input (rule D2): every
 * size and count a header states is checked here before anything is allocated or read for it.
 * Exceeding one is an operating failure with code HOLDFAST_LIMIT_EXCEEDED, never an assertion.
 */
import { holdfastError } from '../../errors/holdfast-error.js';

export const tarLimits = {
  /** One pax 'x' or 'g' header, and all pending ones for one entry together. */
  paxHeaderBytesMax: 1024 * 1024,
  /** Records in one pax header: no real entry needs more than its xattrs and a few fields. */
  paxRecordCountMax: 65_536,
  /** PATH_MAX on Linux. */
  pathBytesMax: 4096,
  linkTargetBytesMax: 4096,
  /** LOGIN_NAME_MAX on Linux is 256; names in archives made elsewhere may be longer, not much. */
  userNameBytesMax: 256,
  groupNameBytesMax: 256,
  /** XATTR_NAME_MAX. */
  xattrNameBytesMax: 255,
  /** XATTR_SIZE_MAX: no Linux file system stores a larger value. */
  xattrValueBytesMax: 65_536,
  /** XATTR_LIST_MAX (64 KiB of names) holds at most this many of the shortest names. */
  xattrCountMax: 8192,
  /** A 64 KiB ACL xattr holds 8191 entries. */
  aclEntryCountMax: 8191,
  /** Data runs of one sparse file; the map alone may then be ~40 MiB of text, read in blocks. */
  sparseExtentCountMax: 1_048_576,
  /** Sizes and offsets are JavaScript numbers: 8 PiB is far beyond any file, and exact. */
  entrySizeBytesMax: Number.MAX_SAFE_INTEGER,
  /** uid_t and gid_t are 32 bits on Linux. */
  idMax: 0xffff_ffff,
} as const;

export type TarLimitName = keyof typeof tarLimits;

/** Throws HOLDFAST_LIMIT_EXCEEDED when `value` is over the named limit. */
export function checkTarLimit(name: TarLimitName, value: number | bigint, what: string, context: { operation: string; path: string }): void {
  const limit = tarLimits[name];
  if (value <= limit) return;
  throw holdfastError('HOLDFAST_LIMIT_EXCEEDED', context, `${what} is ${value}, over the limit ${name} = ${limit}`);
}
