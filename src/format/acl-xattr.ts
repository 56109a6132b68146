/**
 * The Linux binary form of a POSIX ACL, as the system.posix_acl_access and
 * system.posix_acl_default xattrs carry it: a u32 version (2), then entries of
 * { u16 tag, u16 permissions, u32 id }, little-endian. Pure codec.
 */
import { holdfastError } from '../errors/holdfast-error.js';
import type { AclEntry, AclTag } from './entry.js';

export const aclXattrNames = { access: 'system.posix_acl_access', default: 'system.posix_acl_default' } as const;

const aclVersion = 2;
const entryBytes = 8;
const undefinedId = 0xffffffff;
/** No ACL has more entries than a 64 KiB xattr can hold. */
export const aclEntryCountMax = 8191;

const tagByCode = new Map<number, AclTag>([
  [0x01, 'user-owner'],
  [0x02, 'user'],
  [0x04, 'group-owner'],
  [0x08, 'group'],
  [0x10, 'mask'],
  [0x20, 'other'],
]);
const codeByTag = new Map<AclTag, number>([...tagByCode].map(([code, tag]) => [tag, code]));

export function decodeAclXattr(value: Buffer, path: string): AclEntry[] {
  const invalid = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read ACL of', path }, reason);
  if (value.length < 4 || (value.length - 4) % entryBytes !== 0) throw invalid(`an ACL xattr of ${value.length} bytes`);
  if (value.readUInt32LE(0) !== aclVersion) throw invalid(`ACL xattr version ${value.readUInt32LE(0)}`);
  const entries: AclEntry[] = [];
  for (let offset = 4; offset < value.length; offset += entryBytes) {
    const tag = tagByCode.get(value.readUInt16LE(offset));
    if (tag === undefined) throw invalid(`ACL tag ${value.readUInt16LE(offset)}`);
    const id = value.readUInt32LE(offset + 4);
    entries.push({ tag, id: tag === 'user' || tag === 'group' ? id : null, permissions: value.readUInt16LE(offset + 2) & 0o7 });
  }
  return entries;
}

/** Entries in the order the kernel requires: by tag, then by id. */
export function encodeAclXattr(entries: readonly AclEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (codeByTag.get(a.tag)! - codeByTag.get(b.tag)!) || (a.id ?? 0) - (b.id ?? 0));
  const value = Buffer.alloc(4 + sorted.length * entryBytes);
  value.writeUInt32LE(aclVersion, 0);
  sorted.forEach((entry, index) => {
    const offset = 4 + index * entryBytes;
    value.writeUInt16LE(codeByTag.get(entry.tag)!, offset);
    value.writeUInt16LE(entry.permissions & 0o7, offset + 2);
    value.writeUInt32LE(entry.id ?? undefinedId, offset + 4);
  });
  return value;
}
