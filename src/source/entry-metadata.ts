/**
 * The parts of a file's metadata that stat() does not give: xattrs of every namespace the
 * caller can read, POSIX ACLs (from their system.* xattrs), and the data map of a sparse file
 * (SEEK_DATA / SEEK_HOLE).
 */
import { displayPath, type FilePath } from '../base/file-path.js';
import { isErrorCode } from '../errors/holdfast-error.js';
import { aclXattrNames, decodeAclXattr } from '../format/acl-xattr.js';
import type { AclEntry, Extent, Xattr } from '../format/entry.js';
import type { Handle } from '../io/handle.js';
import type { Io } from '../io/io.js';

export interface XattrMetadata {
  xattrs: Xattr[];
  aclAccess: AclEntry[] | null;
  aclDefault: AclEntry[] | null;
}

/** A file with more data extents than this is read as if its last extents were one: it over-reports data, never loses it. */
export const dataExtentCountMax = 1_000_000;

const noXattrs: XattrMetadata = { xattrs: [], aclAccess: null, aclDefault: null };

/**
 * Reads every xattr of a handle, or of a path without following a final symlink. A file system
 * without xattrs gives none; an xattr that vanishes between list and get is left out.
 */
export async function readXattrMetadata(io: Io, subject: Handle<'file'> | Handle<'directory'> | FilePath, pathForMessages: FilePath): Promise<XattrMetadata> {
  let names: string[];
  try {
    names = await io.listXattrs(subject);
  } catch (error) {
    if (isErrorCode(error, 'ENOTSUP')) return noXattrs;
    throw error;
  }
  if (names.length === 0) return noXattrs;
  const xattrs: Xattr[] = [];
  for (const name of names) {
    const value = await io.getXattr(subject, name);
    if (value !== null) xattrs.push({ name, value });
  }
  return xattrMetadataFrom(xattrs, pathForMessages);
}

/** A file's xattrs sorted by name, with its POSIX ACLs decoded from their system.* xattrs. */
export function xattrMetadataFrom(xattrs: readonly Xattr[], pathForMessages: FilePath): XattrMetadata {
  if (xattrs.length === 0) return noXattrs;
  const metadata: XattrMetadata = { xattrs: [], aclAccess: null, aclDefault: null };
  for (const xattr of [...xattrs].sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0))) {
    if (xattr.name === aclXattrNames.access) metadata.aclAccess = decodeAclXattr(xattr.value, displayPath(pathForMessages));
    else if (xattr.name === aclXattrNames.default) metadata.aclDefault = decodeAclXattr(xattr.value, displayPath(pathForMessages));
    else metadata.xattrs.push(xattr);
  }
  return metadata;
}

/**
 * The data extents of a file, or null when it has no holes. A file whose allocated blocks cover
 * its size has none, and is not asked (two system calls saved per file).
 */
export async function readDataMap(io: Io, handle: Handle<'file'>, sizeBytes: number, allocatedBytes: number): Promise<Extent[] | null> {
  if (sizeBytes === 0 || allocatedBytes >= sizeBytes) return null;
  const extents: Extent[] = [];
  let offset = 0;
  while (offset < sizeBytes) {
    const dataStart = await io.seekData(handle, offset);
    if (dataStart === null || dataStart >= sizeBytes) break;
    let dataEnd = (await io.seekHole(handle, dataStart)) ?? sizeBytes;
    if (extents.length === dataExtentCountMax - 1) dataEnd = sizeBytes;
    dataEnd = Math.min(dataEnd, sizeBytes);
    extents.push({ offsetBytes: dataStart, lengthBytes: dataEnd - dataStart });
    offset = dataEnd;
  }
  if (extents.length === 1 && extents[0]!.offsetBytes === 0 && extents[0]!.lengthBytes === sizeBytes) return null;
  return extents;
}
