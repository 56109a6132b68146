/**
 * Entry: one file's whole self, as the backup stream and tar carry it. Both codecs encode and
 * decode this one model, so what one format can say the other can say too.
 *
 * An entry's data follows its header: for a regular file, the bytes of each extent of
 * `sparseMap` in order (or all `sizeBytes` bytes when the map is null); nothing for any other
 * type. Paths and link targets are bytes, because Linux names are bytes, not text.
 */

export type EntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'fifo'
  | 'socket'
  | 'character-device'
  | 'block-device';

export type AclTag = 'user-owner' | 'user' | 'group-owner' | 'group' | 'mask' | 'other';

export interface AclEntry {
  tag: AclTag;
  /** The uid or gid for 'user' and 'group'; null for the others. */
  id: number | null;
  /** rwx as the low three bits: 4 read, 2 write, 1 execute. */
  permissions: number;
}

export interface Xattr {
  /** The full name with its namespace, e.g. "user.comment" or "security.capability". */
  name: string;
  value: Buffer;
}

/** A run of data in a sparse file; everything between runs is a hole. */
export interface Extent {
  offsetBytes: number;
  lengthBytes: number;
}

export interface EntryHeader {
  /** Relative, '/'-separated, no leading '/', no "." or ".." components; bytes, not text. */
  path: Buffer;
  type: EntryType;
  /** Permission and special bits: st_mode & 0o7777 (setuid 0o4000, setgid 0o2000, sticky 0o1000). */
  mode: number;
  uid: number;
  gid: number;
  /** Owner names when the source had them in its user database; null otherwise. */
  userName: string | null;
  groupName: string | null;
  /** Nanoseconds since 1970, negative before it. */
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** The file's apparent size; 0 for every type but 'file'. */
  sizeBytes: number;
  /** A symlink's target, or for a 'hardlink' the path of the entry it links to. */
  linkTarget: Buffer | null;
  /** For character and block devices; 0 otherwise. */
  deviceMajor: number;
  deviceMinor: number;
  /** Every readable xattr except the POSIX ACLs, which are carried in aclAccess/aclDefault. */
  xattrs: Xattr[];
  aclAccess: AclEntry[] | null;
  /** Directories only. */
  aclDefault: AclEntry[] | null;
  /** The data extents of a file with holes, ascending and disjoint; null when it has no holes. */
  sparseMap: Extent[] | null;
}

/** How many data bytes follow the header of an entry. */
export function entryDataBytes(header: EntryHeader): number {
  if (header.type !== 'file') return 0;
  if (header.sparseMap === null) return header.sizeBytes;
  let total = 0;
  for (const extent of header.sparseMap) total += extent.lengthBytes;
  return total;
}

/** A header with every optional part empty: a starting point for codecs and tests. */
export function emptyEntryHeader(path: Buffer, type: EntryType): EntryHeader {
  return {
    path,
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    userName: null,
    groupName: null,
    atimeNs: 0n,
    mtimeNs: 0n,
    ctimeNs: 0n,
    sizeBytes: 0,
    linkTarget: null,
    deviceMajor: 0,
    deviceMinor: 0,
    xattrs: [],
    aclAccess: null,
    aclDefault: null,
    sparseMap: null,
  };
}
