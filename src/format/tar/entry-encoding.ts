/**
 * One entry's tar headers, as GNU tar 1.34 writes them with
 * `--format=posix --xattrs --xattrs-include='*' --acls --sparse`: every entry gets a pax 'x'
 * header (GNU tar always records atime and ctime), then its ustar header, then for a sparse file
 * the GNU.sparse 1.0 map. The caller writes the data after these bytes and pads it to 512.
 *
 * GNU tar's rules, found by reading its archives (see test/fixtures/tar/make-fixtures.sh):
 * - pax records in this order: GNU.sparse.major/minor/name/realsize, linkpath, path, uid, gid,
 *   size, mtime, atime, ctime, uname, gname, SCHILY.acl.access, SCHILY.acl.default, xattrs.
 * - path when the name (a directory's with its '/') has 100 bytes or more, or a byte >= 0x80;
 *   linkpath when the target has more than 100 bytes. The ustar fields then hold the first 100
 *   bytes. holdfast adds hdrcharset=BINARY first when such a record is not UTF-8, as bsdtar does.
 * - mtime only when it has a fraction or does not fit the 11 octal digits (before 1970, after
 *   2242); the ustar field then holds 0. uid, gid and size go to records above 0o7777777 and
 *   0o77777777777, with 0 in the field. uname, gname over 32 bytes or not ASCII.
 * - The 'x' header is named "%d/PaxHeaders/%f" (truncated to 100 bytes), mode 0644, owner 0,
 *   mtime the entry's clamped to [0, 0o77777777777], no owner names or device fields.
 * - A sparse member is named "%d/GNUSparseFile.%p/%f" (holdfast uses 0 for the pid, as bsdtar),
 *   truncated to 100 bytes with no path record; GNU.sparse.name holds the real one.
 * - GNU tar also stores the ACLs' binary xattrs (system.posix_acl_*) as SCHILY.xattr records.
 *
 * Pure codec. The caller checks tarLimits before (an entry over them cannot be read back).
 */
import { isUtf8 } from 'node:buffer';
import { assert } from '../../base/assert.js';
import { aclXattrNames, encodeAclXattr } from '../acl-xattr.js';
import { entryDataBytes, type EntryHeader, type EntryType } from '../entry.js';
import { encodeAclText } from './acl-text.js';
import { blockBytes, encodeHeader, linkNameFieldBytes, nameFieldBytes, typeflags, userNameFieldBytes, type HeaderFields } from './header.js';
import { fitsOctal, octalMax } from './large-numbers.js';
import { encodePaxRecords, encodePaxTime, floorDivide, type PaxRecord } from './pax.js';
import { tarLimits, type TarLimitName } from './limits.js';
import { encodeSparseMap } from './sparse.js';
import { paxKeyForXattr } from './xattr-names.js';

const typeflagByType: Readonly<Record<Exclude<EntryType, 'socket'>, string>> = {
  file: typeflags.file,
  directory: typeflags.directory,
  symlink: typeflags.symlink,
  hardlink: typeflags.hardlink,
  'character-device': typeflags.characterDevice,
  'block-device': typeflags.blockDevice,
  fifo: typeflags.fifo,
};

const idFieldBytes = 8;
const sizeFieldBytes = 12;
const paxHeaderMode = 0o644;
const billion = 1_000_000_000n;

export function paddedBytes(lengthBytes: number): number {
  return Math.ceil(lengthBytes / blockBytes) * blockBytes;
}

/** The name tar stores: a directory's ends in '/'. */
export function archivePath(header: EntryHeader): Buffer {
  return header.type === 'directory' ? Buffer.concat([header.path, Buffer.from('/')]) : header.path;
}

export interface EncodedEntryHeaders {
  /** The 'x' header and its data, the ustar header, a sparse map: a buffer the caller owns. */
  bytes: Buffer;
  /** The pax data alone, to check against tarLimits.paxHeaderBytesMax. */
  paxDataBytes: number;
}

/** Why an entry cannot be written so that a reader within tarLimits reads it back; null if it can. */
export function entryLimitProblem(header: EntryHeader): string | null {
  const over = (name: TarLimitName, value: number, what: string): string | null =>
    value > tarLimits[name] ? `${what} is ${value}, over the tar limit ${name} = ${tarLimits[name]}` : null;
  const xattrProblems = header.xattrs.map(
    (xattr) =>
      over('xattrNameBytesMax', Buffer.byteLength(xattr.name), `the name length of xattr "${xattr.name.slice(0, 80)}"`) ??
      over('xattrValueBytesMax', xattr.value.length, `the value length of xattr "${xattr.name}"`),
  );
  return (
    over('pathBytesMax', archivePath(header).length, 'its path length in bytes') ??
    over('linkTargetBytesMax', header.linkTarget?.length ?? 0, 'its link target length in bytes') ??
    over('userNameBytesMax', Buffer.byteLength(header.userName ?? ''), 'its owner name length in bytes') ??
    over('groupNameBytesMax', Buffer.byteLength(header.groupName ?? ''), 'its group name length in bytes') ??
    over('idMax', Math.max(header.uid, header.gid), 'its uid or gid') ??
    over('xattrCountMax', header.xattrs.length, 'its number of xattrs') ??
    xattrProblems.find((problem) => problem !== null) ??
    over('aclEntryCountMax', Math.max(header.aclAccess?.length ?? 0, header.aclDefault?.length ?? 0), 'its number of ACL entries') ??
    over('sparseExtentCountMax', (header.sparseMap?.length ?? 0) + 1, 'its number of sparse extents')
  );
}

/** The 'x' header, the ustar header and a sparse map of one entry. */
export function encodeEntryHeaders(header: EntryHeader): EncodedEntryHeaders {
  assert(header.type !== 'socket', 'a socket cannot be stored in tar; the encoder skips it');
  const path = archivePath(header);
  const mapBlock = header.type === 'file' && header.sparseMap !== null ? encodeSparseMap(header.sparseMap, header.sizeBytes) : null;
  const memberBytes = (mapBlock?.length ?? 0) + entryDataBytes(header);
  const { records, fields } = recordsAndFields(header, path, mapBlock !== null, memberBytes);
  const paxData = encodePaxRecords(records);
  const ustarOffset = blockBytes + paddedBytes(paxData.length);
  const target = Buffer.alloc(ustarOffset + blockBytes + (mapBlock?.length ?? 0));
  const seconds = fields.mtimeSeconds;
  encodeHeader(
    {
      name: Buffer.concat([directoryOf(path), Buffer.from('/PaxHeaders/'), baseOf(path)]),
      mode: paxHeaderMode,
      uid: 0,
      gid: 0,
      sizeBytes: paxData.length,
      mtimeSeconds: seconds < 0n ? 0n : seconds > octalMax(sizeFieldBytes) ? octalMax(sizeFieldBytes) : seconds,
      typeflag: typeflags.paxExtended,
      linkName: null,
      userName: null,
      groupName: null,
      deviceMajor: null,
      deviceMinor: null,
    },
    target,
  );
  paxData.copy(target, blockBytes);
  encodeHeader({ ...fields, mtimeSeconds: fitsOctal(seconds, sizeFieldBytes) ? seconds : 0n }, target.subarray(ustarOffset));
  mapBlock?.copy(target, ustarOffset + blockBytes);
  return { bytes: target, paxDataBytes: paxData.length };
}

/**
 * The pax records in GNU tar's order, and the ustar fields with 0 where a record holds the value.
 * fields.mtimeSeconds is the whole mtime, for the caller to clamp.
 */
function recordsAndFields(header: EntryHeader, path: Buffer, sparse: boolean, memberBytes: number): { records: PaxRecord[]; fields: HeaderFields } {
  const records: PaxRecord[] = [];
  const add = (key: string, value: string | Buffer): void => {
    records.push({ key, value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value });
  };
  if (sparse) {
    add('GNU.sparse.major', '1');
    add('GNU.sparse.minor', '0');
    add('GNU.sparse.name', path);
    add('GNU.sparse.realsize', String(header.sizeBytes));
  }
  const linkTarget = header.type === 'symlink' || header.type === 'hardlink' ? header.linkTarget : null;
  assert(linkTarget !== null || (header.type !== 'symlink' && header.type !== 'hardlink'), 'a link needs its target');
  const linkRecord = linkTarget !== null && linkTarget.length > linkNameFieldBytes;
  const pathRecord = !sparse && (path.length + 1 > nameFieldBytes || !isAscii(path));
  if ((linkRecord && !isPortableText(linkTarget)) || (pathRecord && !isPortableText(path))) add('hdrcharset', 'BINARY');
  if (linkRecord) add('linkpath', linkTarget);
  if (pathRecord) add('path', path);
  const uidFits = fitsOctal(header.uid, idFieldBytes);
  const gidFits = fitsOctal(header.gid, idFieldBytes);
  const sizeFits = fitsOctal(memberBytes, sizeFieldBytes);
  const mtimeSeconds = floorDivide(header.mtimeNs, billion);
  if (!uidFits) add('uid', String(header.uid));
  if (!gidFits) add('gid', String(header.gid));
  if (!sizeFits) add('size', String(memberBytes));
  if (header.mtimeNs % billion !== 0n || !fitsOctal(mtimeSeconds, sizeFieldBytes)) add('mtime', encodePaxTime(header.mtimeNs));
  const devices = deviceFields(header, add);
  add('atime', encodePaxTime(header.atimeNs));
  add('ctime', encodePaxTime(header.ctimeNs));
  const userName = ownerName(header.userName, 'uname', add);
  const groupName = ownerName(header.groupName, 'gname', add);
  addAclsAndXattrs(header, add);
  const fields: HeaderFields = {
    name: sparse ? Buffer.concat([directoryOf(path), Buffer.from('/GNUSparseFile.0/'), baseOf(path)]) : path,
    mode: header.mode & 0o7777,
    uid: uidFits ? header.uid : 0,
    gid: gidFits ? header.gid : 0,
    sizeBytes: sizeFits ? memberBytes : 0,
    mtimeSeconds,
    typeflag: typeflagByType[header.type as Exclude<EntryType, 'socket'>],
    linkName: linkTarget,
    userName,
    groupName,
    ...devices,
  };
  return { records, fields };
}

function deviceFields(header: EntryHeader, add: (key: string, value: string) => void): { deviceMajor: number; deviceMinor: number } {
  if (header.type !== 'character-device' && header.type !== 'block-device') return { deviceMajor: 0, deviceMinor: 0 };
  // Linux device numbers (12 and 20 bits) always fit; star's records carry any that would not.
  const majorFits = fitsOctal(header.deviceMajor, idFieldBytes);
  const minorFits = fitsOctal(header.deviceMinor, idFieldBytes);
  if (!majorFits) add('SCHILY.devmajor', String(header.deviceMajor));
  if (!minorFits) add('SCHILY.devminor', String(header.deviceMinor));
  return { deviceMajor: majorFits ? header.deviceMajor : 0, deviceMinor: minorFits ? header.deviceMinor : 0 };
}

function ownerName(name: string | null, key: string, add: (key: string, value: Buffer) => void): Buffer | null {
  if (name === null) return null;
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > userNameFieldBytes || !isAscii(bytes)) add(key, bytes);
  return bytes;
}

function addAclsAndXattrs(header: EntryHeader, add: (key: string, value: string | Buffer) => void): void {
  const access = header.aclAccess !== null && header.aclAccess.length > 0 ? header.aclAccess : null;
  const defaults = header.type === 'directory' && header.aclDefault !== null && header.aclDefault.length > 0 ? header.aclDefault : null;
  if (access !== null) add('SCHILY.acl.access', encodeAclText(access));
  if (defaults !== null) add('SCHILY.acl.default', encodeAclText(defaults));
  for (const xattr of header.xattrs) add(paxKeyForXattr(xattr.name), xattr.value);
  if (access !== null) add(paxKeyForXattr(aclXattrNames.access), encodeAclXattr(access));
  if (defaults !== null) add(paxKeyForXattr(aclXattrNames.default), encodeAclXattr(defaults));
}

function isAscii(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte >= 0x80) return false;
  return true;
}

/** GNU's dir_name() of a name without its trailing '/': "." when it has no '/'. */
function directoryOf(path: Buffer): Buffer {
  const trimmed = withoutTrailingSlash(path);
  const slash = trimmed.lastIndexOf(0x2f);
  return slash === -1 ? Buffer.from('.') : trimmed.subarray(0, slash);
}

function baseOf(path: Buffer): Buffer {
  const trimmed = withoutTrailingSlash(path);
  return trimmed.subarray(trimmed.lastIndexOf(0x2f) + 1);
}

function withoutTrailingSlash(path: Buffer): Buffer {
  let end = path.length;
  while (end > 1 && path[end - 1] === 0x2f) end--;
  return path.subarray(0, end);
}

/**
 * True when a name survives every reader as UTF-8 text. bsdtar (libarchive 3.6) converts pax
 * text to NFC on extraction, so a valid UTF-8 name that is not NFC (a decomposed "café") is sent
 * as hdrcharset=BINARY too, which it takes byte for byte.
 */
function isPortableText(bytes: Buffer): boolean {
  if (!isUtf8(bytes)) return false;
  const text = bytes.toString('utf8');
  return text.normalize('NFC') === text;
}
