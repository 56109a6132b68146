/**
 * One archive member's headers -> the model's EntryHeader, and how its data is laid out. Applies
 * the pax records in effect (global, then the entry's own), GNU 'L'/'K' long names, and the
 * sparse formats; the decoder then reads the member's data by the returned plan.
 *
 * Choices, each as GNU tar makes it unless said otherwise:
 * - path: GNU.sparse.name, else pax path, else 'L', else the header's (prefix/)name; trailing
 *   '/' removed. Nothing else is changed: '..' and a leading '/' reach the restorer, which
 *   validates them. linkTarget: pax linkpath, else 'K', else the linkname field.
 * - Unknown typeflags are regular files (POSIX); a regular file whose name ends in '/' is a
 *   directory (old archives); 'D' (GNU dump directory) is a directory.
 * - Hard links and directories other than 'D' have no data in the archive, whatever their size
 *   field says (see hasData()).
 * - mtime from pax, else the header; atime and ctime from pax, else the mtime.
 * - A negative pax mtime with a fraction, in a header whose mtime field is negative too, was
 *   written by libarchive (see pax.ts), and the entry's times are read its way: GNU tar writes 0
 *   in that field and the true value in the record, libarchive a negative base-256 number (in
 *   the field's first 11 bytes, then a space, so its value cannot be compared).
 * - xattrs: SCHILY.xattr.* and LIBARCHIVE.xattr.*, minus the POSIX ACL xattrs, which are read as
 *   the entry's ACLs when SCHILY.acl.* is missing or names someone the lookup does not know.
 * - userName/groupName: pax uname/gname, else the header's; empty is null.
 * Pure codec: hostile values are HOLDFAST_FORMAT_INVALID or HOLDFAST_LIMIT_EXCEEDED.
 */
import type { ErrorContext } from '../../errors/holdfast-error.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import { aclXattrNames, decodeAclXattr } from '../acl-xattr.js';
import type { AclEntry, EntryHeader, EntryType, Extent } from '../entry.js';
import { decodeAclText, type IdLookup } from './acl-text.js';
import { copyBytes, memberContext } from './context.js';
import { typeflags, type TarHeader } from './header.js';
import { checkTarLimit, type TarLimitName } from './limits.js';
import { collectPaxAttributes, type PaxAttributes } from './pax-attributes.js';
import { libarchivePaxTimeNs, paxTimeNs, type PaxRecord, type PaxTime } from './pax.js';
import { decodeOldGnuSparseHeader, decodeSparseMap01 } from './sparse.js';
import { isAclXattrName } from './xattr-names.js';

/** The meta-headers that came before a member: its 'x' records and GNU long names. */
export interface EntryMetadata {
  localRecords: PaxRecord[];
  longName: Buffer | null;
  longLink: Buffer | null;
}

export type SparseLayout =
  /** Not sparse: the member's data is the file. */
  | { kind: 'none' }
  /** GNU.sparse 1.0: the map opens the member's data. */
  | { kind: 'map-in-data' }
  /** The map came in the headers (0.0, 0.1, old GNU); old GNU may continue in extension blocks. */
  | { kind: 'map-in-headers'; extents: Extent[]; extensionBlocksFollow: boolean };

export interface TarEntryPlan {
  /** sparseMap is null until the decoder has read a map-in-data or extension blocks. */
  header: EntryHeader;
  /** Bytes of the member in the archive after its header, before the padding. */
  memberBytes: number;
  sparse: SparseLayout;
  /** What was read leniently (a pax time with garbage after it), to report with the entry's path. */
  warnings: string[];
}

const billion = 1_000_000_000n;

function entryType(typeflag: string, name: Buffer): EntryType {
  switch (typeflag) {
    case typeflags.hardlink:
      return 'hardlink';
    case typeflags.symlink:
      return 'symlink';
    case typeflags.characterDevice:
      return 'character-device';
    case typeflags.blockDevice:
      return 'block-device';
    case typeflags.directory:
    case typeflags.gnuDumpDirectory:
      return 'directory';
    case typeflags.fifo:
      return 'fifo';
    case typeflags.file:
    case typeflags.oldFile:
    case typeflags.contiguousFile:
      return name.at(-1) === 0x2f ? 'directory' : 'file';
    default:
      return 'file';
  }
}

/**
 * A hard link and a directory have no data in the archive, whatever their size field (or a pax
 * size) says: old writers put the target's size in a hard link's header and a V7 directory's
 * size in its own, and GNU tar 1.34 reads the next header right after them. Only a GNU dump
 * directory ('D') carries data, its listing.
 */
function hasData(type: EntryType, typeflag: string): boolean {
  if (type === 'hardlink') return false;
  return type !== 'directory' || typeflag === typeflags.gnuDumpDirectory;
}

function withoutTrailingSlashes(path: Buffer): Buffer {
  let end = path.length;
  while (end > 1 && path[end - 1] === 0x2f) end--;
  return path.subarray(0, end);
}

export function planTarEntry(
  tar: TarHeader,
  block: Buffer,
  metadata: EntryMetadata,
  global: ReadonlyMap<string, Buffer>,
  lookupId: IdLookup | undefined,
  operation: string,
): TarEntryPlan {
  const headerPath = metadata.longName ?? tar.name;
  const pax = collectPaxAttributes(global, metadata.localRecords, memberContext(operation, headerPath));
  const rawPath = pax.sparse.name ?? pax.path ?? headerPath;
  const path = copyBytes(withoutTrailingSlashes(rawPath));
  const context = memberContext(operation, path);
  const limit = (name: TarLimitName, value: number | bigint, what: string): void => checkTarLimit(name, value, what, context);
  limit('pathBytesMax', path.length, 'the path length in bytes');
  // A pax record may hold a NUL, which no Linux name can: GNU tar would cut the name there.
  if (rawPath.includes(0)) throw holdfastError('HOLDFAST_FORMAT_INVALID', context, 'its path holds a NUL byte');
  const type = entryType(tar.typeflag, rawPath);
  const declaredBytes = pax.sizeBytes ?? BigInt(tar.sizeBytes);
  limit('entrySizeBytesMax', declaredBytes, 'the member size in bytes');
  const memberBytes = hasData(type, tar.typeflag) ? declaredBytes : 0n;

  const isLink = type === 'symlink' || type === 'hardlink';
  const linkTarget = isLink ? copyBytes(pax.linkPath ?? metadata.longLink ?? tar.linkName) : null;
  if (linkTarget !== null) limit('linkTargetBytesMax', linkTarget.length, 'the link target length in bytes');
  if (linkTarget?.includes(0) === true) throw holdfastError('HOLDFAST_FORMAT_INVALID', context, 'its link target holds a NUL byte');
  const isDevice = type === 'character-device' || type === 'block-device';
  const sparse = type === 'file' ? sparseLayout(tar, block, pax, context) : { layout: { kind: 'none' } as const, realSizeBytes: null };
  const times = entryTimes(tar, pax);
  const header: EntryHeader = {
    path,
    type,
    mode: tar.mode,
    uid: id(pax.uid, tar.uid, 'uid', context),
    gid: id(pax.gid, tar.gid, 'gid', context),
    userName: ownerName(pax.userName ?? tar.userName, 'userNameBytesMax', context),
    groupName: ownerName(pax.groupName ?? tar.groupName, 'groupNameBytesMax', context),
    ...times,
    sizeBytes: type === 'file' ? (sparse.realSizeBytes ?? Number(memberBytes)) : 0,
    linkTarget,
    deviceMajor: isDevice ? id(pax.deviceMajor, tar.deviceMajor, 'devmajor', context) : 0,
    deviceMinor: isDevice ? id(pax.deviceMinor, tar.deviceMinor, 'devminor', context) : 0,
    xattrs: [...pax.xattrs].filter(([name]) => !isAclXattrName(name)).map(([name, value]) => ({ name, value })),
    aclAccess: entryAcl(pax.aclAccessText, pax.xattrs.get(aclXattrNames.access), lookupId, context),
    aclDefault: type === 'directory' ? entryAcl(pax.aclDefaultText, pax.xattrs.get(aclXattrNames.default), lookupId, context) : null,
    sparseMap: null,
  };
  return { header, memberBytes: Number(memberBytes), sparse: sparse.layout, warnings: pax.warnings };
}

function id(paxValue: bigint | null, headerValue: number, what: string, context: ErrorContext): number {
  const value = paxValue ?? BigInt(headerValue);
  checkTarLimit('idMax', value, `the ${what}`, context);
  return Number(value);
}

function ownerName(bytes: Buffer, limit: 'userNameBytesMax' | 'groupNameBytesMax', context: ErrorContext): string | null {
  if (bytes.length === 0) return null;
  checkTarLimit(limit, bytes.length, 'an owner name length in bytes', context);
  return bytes.toString('utf8');
}

function entryTimes(tar: TarHeader, pax: PaxAttributes): { atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint } {
  const fromLibarchive = pax.mtime !== null && pax.mtime.negative && pax.mtime.fractionNs !== 0n && tar.mtimeSeconds < 0n;
  const timeNs = (time: PaxTime): bigint => (fromLibarchive ? libarchivePaxTimeNs(time) : paxTimeNs(time));
  const mtimeNs = pax.mtime === null ? tar.mtimeSeconds * billion : timeNs(pax.mtime);
  return {
    atimeNs: pax.atime === null ? mtimeNs : timeNs(pax.atime),
    mtimeNs,
    ctimeNs: pax.ctime === null ? mtimeNs : timeNs(pax.ctime),
  };
}

function entryAcl(text: string | null, binary: Buffer | undefined, lookupId: IdLookup | undefined, context: ErrorContext): AclEntry[] | null {
  if (text !== null) {
    const result = decodeAclText(text, lookupId, context);
    if (result.entries !== null) return result.entries;
    if (binary === undefined) {
      throw holdfastError('HOLDFAST_FORMAT_INVALID', context, `its ACL names ${result.unresolvedName}, whom this system does not know, and has no numeric form`);
    }
  }
  if (binary === undefined) return null;
  const entries = decodeAclXattr(binary, context.path);
  checkTarLimit('aclEntryCountMax', entries.length, 'the number of ACL entries', context);
  return entries;
}

function sparseLayout(tar: TarHeader, block: Buffer, pax: PaxAttributes, context: ErrorContext): { layout: SparseLayout; realSizeBytes: number | null } {
  const { sparse } = pax;
  const realSize = (): number => {
    if (sparse.realSizeBytes === null) throw holdfastError('HOLDFAST_FORMAT_INVALID', context, 'a sparse file without its real size');
    checkTarLimit('entrySizeBytesMax', sparse.realSizeBytes, 'the real size of the sparse file', context);
    return Number(sparse.realSizeBytes);
  };
  if (sparse.major !== null || sparse.minor !== null) {
    if (sparse.major === 1n && sparse.minor === 0n) return { layout: { kind: 'map-in-data' }, realSizeBytes: realSize() };
    if (sparse.major !== 0n || (sparse.minor !== 0n && sparse.minor !== 1n)) {
      throw holdfastError('HOLDFAST_FORMAT_INVALID', context, `GNU.sparse ${sparse.major}.${sparse.minor} is a sparse format this reader does not know`);
    }
  }
  if (sparse.mapText !== null) {
    return { layout: { kind: 'map-in-headers', extents: decodeSparseMap01(sparse.mapText, context), extensionBlocksFollow: false }, realSizeBytes: realSize() };
  }
  if (sparse.pairs.length > 0) {
    return { layout: { kind: 'map-in-headers', extents: sparse.pairs, extensionBlocksFollow: false }, realSizeBytes: realSize() };
  }
  if (tar.typeflag === typeflags.gnuSparse) {
    const part = decodeOldGnuSparseHeader(block, context);
    return { layout: { kind: 'map-in-headers', extents: part.extents, extensionBlocksFollow: part.isExtended }, realSizeBytes: part.realSizeBytes };
  }
  return { layout: { kind: 'none' }, realSizeBytes: null };
}
