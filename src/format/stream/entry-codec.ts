/**
 * Payloads of the entry records of the backup stream (record.ts lists the types). Pure codec.
 *
 * entry:      u8 type | u8 0 | u16 mode | u32 uid | u32 gid | u32 deviceMajor | u32 deviceMinor |
 *             u64 sizeBytes | (i64 seconds, u32 nanoseconds) x3 for atime, mtime, ctime |
 *             u16 pathBytes, path | u8 userNameBytes, userName | u8 groupNameBytes, groupName
 *             (an absent owner name has length 255 and no bytes)
 * linkTarget: the target's bytes
 * xattr:      u8 nameBytes, name (UTF-8), value
 * aclAccess, aclDefault: u16 count, then count x (u8 tag, u8 permissions, u32 id)
 * sparseMap:  count x (u64 offset, u64 length); an entry may carry several, which concatenate
 * entryEnd:   u64 data bytes
 */
import { displayPath } from '../../base/file-path.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import type { AclEntry, AclTag, EntryHeader, EntryType, Extent } from '../entry.js';
import { emptyEntryHeader } from '../entry.js';
import { limits, recordType } from './record.js';

const typeCodes: readonly EntryType[] = ['file', 'directory', 'symlink', 'hardlink', 'fifo', 'socket', 'character-device', 'block-device'];
const aclTags: readonly AclTag[] = ['user-owner', 'user', 'group-owner', 'group', 'mask', 'other'];
const absentName = 255;
const fixedBytes = 1 + 1 + 2 + 4 * 4 + 8 + 12 * 3;
const nanosecondsPerSecond = 1_000_000_000n;
export const sparseExtentsPerRecordMax = 4096;

export class PayloadReader {
  #offset = 0;
  constructor(
    readonly bytes: Buffer,
    readonly what: string,
    readonly streamName: string,
  ) {}

  take(length: number): Buffer {
    if (this.#offset + length > this.bytes.length) {
      throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read stream', path: this.streamName }, `${this.what} is shorter than its fields`);
    }
    const taken = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return taken;
  }
  u8 = (): number => this.take(1).readUInt8(0);
  u16 = (): number => this.take(2).readUInt16LE(0);
  u32 = (): number => this.take(4).readUInt32LE(0);
  u64 = (): number => {
    const value = this.take(8).readBigUInt64LE(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read stream', path: this.streamName }, `${this.what} has a number out of range`);
    return Number(value);
  };
  timeNs = (): bigint => {
    const seconds = this.take(8).readBigInt64LE(0);
    return seconds * nanosecondsPerSecond + BigInt(this.u32());
  };
  rest = (): Buffer => this.take(this.bytes.length - this.#offset);
}

function writeTime(target: Buffer, offset: number, timeNs: bigint): number {
  let seconds = timeNs / nanosecondsPerSecond;
  let nanoseconds = timeNs % nanosecondsPerSecond;
  if (nanoseconds < 0n) {
    seconds -= 1n;
    nanoseconds += nanosecondsPerSecond;
  }
  target.writeBigInt64LE(seconds, offset);
  target.writeUInt32LE(Number(nanoseconds), offset + 8);
  return offset + 12;
}

export function encodeEntryRecord(header: EntryHeader): Buffer {
  const user = header.userName === null ? null : Buffer.from(header.userName, 'utf8');
  const group = header.groupName === null ? null : Buffer.from(header.groupName, 'utf8');
  const payload = Buffer.alloc(fixedBytes + 2 + header.path.length + 1 + (user?.length ?? 0) + 1 + (group?.length ?? 0));
  let offset = payload.writeUInt8(typeCodes.indexOf(header.type), 0);
  offset = payload.writeUInt8(0, offset);
  offset = payload.writeUInt16LE(header.mode & 0o7777, offset);
  offset = payload.writeUInt32LE(header.uid, offset);
  offset = payload.writeUInt32LE(header.gid, offset);
  offset = payload.writeUInt32LE(header.deviceMajor, offset);
  offset = payload.writeUInt32LE(header.deviceMinor, offset);
  offset = payload.writeBigUInt64LE(BigInt(header.sizeBytes), offset);
  offset = writeTime(payload, offset, header.atimeNs);
  offset = writeTime(payload, offset, header.mtimeNs);
  offset = writeTime(payload, offset, header.ctimeNs);
  offset = payload.writeUInt16LE(header.path.length, offset);
  offset += header.path.copy(payload, offset);
  for (const name of [user, group]) {
    offset = payload.writeUInt8(name === null ? absentName : name.length, offset);
    if (name !== null) offset += name.copy(payload, offset);
  }
  return payload;
}

export function decodeEntryRecord(payload: Buffer, streamName: string): EntryHeader {
  const reader = new PayloadReader(payload, 'an entry record', streamName);
  const type = typeCodes[reader.u8()];
  if (type === undefined) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read stream', path: streamName }, 'an entry record has an unknown entry type');
  reader.u8();
  const header = emptyEntryHeader(Buffer.alloc(0), type);
  header.mode = reader.u16() & 0o7777;
  header.uid = reader.u32();
  header.gid = reader.u32();
  header.deviceMajor = reader.u32();
  header.deviceMinor = reader.u32();
  header.sizeBytes = reader.u64();
  header.atimeNs = reader.timeNs();
  header.mtimeNs = reader.timeNs();
  header.ctimeNs = reader.timeNs();
  header.path = Buffer.from(reader.take(reader.u16()));
  const names: (string | null)[] = [];
  for (let index = 0; index < 2; index++) {
    const length = reader.u8();
    names.push(length === absentName ? null : reader.take(length).toString('utf8'));
  }
  [header.userName = null, header.groupName = null] = names;
  if (header.path.length === 0 || header.path.length > limits.pathBytesMax) {
    throw holdfastError('HOLDFAST_LIMIT_EXCEEDED', { operation: 'read stream', path: streamName }, `an entry path of ${header.path.length} bytes`);
  }
  return header;
}

export function encodeXattrRecord(name: string, value: Buffer): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  return Buffer.concat([Buffer.from([nameBytes.length]), nameBytes, value]);
}

export function decodeXattrRecord(payload: Buffer, streamName: string): { name: string; value: Buffer } {
  const reader = new PayloadReader(payload, 'an xattr record', streamName);
  const name = reader.take(reader.u8()).toString('utf8');
  return { name, value: Buffer.from(reader.rest()) };
}

export function encodeAclRecord(entries: readonly AclEntry[]): Buffer {
  const payload = Buffer.alloc(2 + entries.length * 6);
  payload.writeUInt16LE(entries.length, 0);
  entries.forEach((entry, index) => {
    const offset = 2 + index * 6;
    payload.writeUInt8(aclTags.indexOf(entry.tag), offset);
    payload.writeUInt8(entry.permissions & 0o7, offset + 1);
    payload.writeUInt32LE(entry.id ?? 0xffffffff, offset + 2);
  });
  return payload;
}

export function decodeAclRecord(payload: Buffer, streamName: string): AclEntry[] {
  const reader = new PayloadReader(payload, 'an ACL record', streamName);
  const count = reader.u16();
  const entries: AclEntry[] = [];
  for (let index = 0; index < count; index++) {
    const tag = aclTags[reader.u8()];
    if (tag === undefined) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read stream', path: streamName }, 'an ACL record has an unknown tag');
    const permissions = reader.u8() & 0o7;
    const id = reader.u32();
    entries.push({ tag, id: tag === 'user' || tag === 'group' ? id : null, permissions });
  }
  return entries;
}

export function encodeSparseMapRecords(extents: readonly Extent[]): Buffer[] {
  const records: Buffer[] = [];
  for (let start = 0; start < extents.length || start === 0; start += sparseExtentsPerRecordMax) {
    const part = extents.slice(start, start + sparseExtentsPerRecordMax);
    const payload = Buffer.alloc(part.length * 16);
    part.forEach((extent, index) => {
      payload.writeBigUInt64LE(BigInt(extent.offsetBytes), index * 16);
      payload.writeBigUInt64LE(BigInt(extent.lengthBytes), index * 16 + 8);
    });
    records.push(payload);
    if (extents.length === 0) break;
  }
  return records;
}

export function decodeSparseMapRecord(payload: Buffer, streamName: string): Extent[] {
  if (payload.length % 16 !== 0) throw holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read stream', path: streamName }, 'a sparse map record of odd length');
  const reader = new PayloadReader(payload, 'a sparse map record', streamName);
  const extents: Extent[] = [];
  while (extents.length * 16 < payload.length) extents.push({ offsetBytes: reader.u64(), lengthBytes: reader.u64() });
  return extents;
}

export function encodeU64(value: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeBigUInt64LE(BigInt(value));
  return payload;
}

/** The metadata records that follow an entry record, in stream order: link, xattrs, ACLs, sparse map. */
export function* entryMetadataPayloads(header: EntryHeader): Generator<{ type: number; bytes: Buffer }> {
  yield { type: recordType.entry, bytes: encodeEntryRecord(header) };
  if (header.linkTarget !== null) yield { type: recordType.linkTarget, bytes: header.linkTarget };
  for (const xattr of header.xattrs) yield { type: recordType.xattr, bytes: encodeXattrRecord(xattr.name, xattr.value) };
  if (header.aclAccess !== null) yield { type: recordType.aclAccess, bytes: encodeAclRecord(header.aclAccess) };
  if (header.aclDefault !== null) yield { type: recordType.aclDefault, bytes: encodeAclRecord(header.aclDefault) };
  if (header.sparseMap !== null) {
    for (const bytes of encodeSparseMapRecords(header.sparseMap)) yield { type: recordType.sparseMap, bytes };
  }
}

/**
 * Adds one metadata record (link, xattr, ACL, sparse map) to the entry it follows. Returns false
 * for a type that is not an entry metadata record, which the caller handles or skips.
 */
export function applyMetadataRecord(target: EntryHeader, type: number, payload: Buffer, streamName: string): boolean {
  const overLimit = (reason: string): Error => holdfastError('HOLDFAST_LIMIT_EXCEEDED', { operation: 'read stream', path: streamName }, `${reason} (in entry "${displayPath(target.path)}")`);
  switch (type) {
    case recordType.linkTarget:
      if (payload.length > limits.pathBytesMax) throw overLimit(`a link target of ${payload.length} bytes`);
      target.linkTarget = payload;
      return true;
    case recordType.xattr:
      if (target.xattrs.length >= limits.xattrCountMax) throw overLimit(`more than ${limits.xattrCountMax} xattrs`);
      target.xattrs.push(decodeXattrRecord(payload, streamName));
      return true;
    case recordType.aclAccess:
      target.aclAccess = decodeAclRecord(payload, streamName);
      return true;
    case recordType.aclDefault:
      target.aclDefault = decodeAclRecord(payload, streamName);
      return true;
    case recordType.sparseMap: {
      const extents = decodeSparseMapRecord(payload, streamName);
      target.sparseMap = [...(target.sparseMap ?? []), ...extents];
      if (target.sparseMap.length > limits.sparseExtentCountMax) throw overLimit(`more than ${limits.sparseExtentCountMax} sparse extents`);
      return true;
    }
    default:
      return false;
  }
}
