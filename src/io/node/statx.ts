/**
 * struct statx (statx(2)) as a FileStat: one layout on every Linux architecture, unlike struct
 * stat, so fstatat's answer for a name in a held directory can be read without a C compiler.
 */
import type { FileStat } from '../backend.js';
import type { HandleKind } from '../handle-kind.js';
import { makeDevice } from './libc.js';

const fileTypeMask = 0o170000;
const kindOfType = new Map<number, HandleKind>([
  [0o100000, 'file'],
  [0o040000, 'directory'],
  [0o010000, 'fifo'],
  [0o140000, 'socket'],
  [0o060000, 'block-device'],
  [0o020000, 'char-device'],
  [0o120000, 'symlink'],
]);

/** Offsets in struct statx (linux/stat.h). */
const offsets = { linkCount: 16, uid: 20, gid: 24, mode: 28, inode: 32, size: 40, blocks: 48, atime: 64, ctime: 96, mtime: 112, rdevMajor: 128, rdevMinor: 132, devMajor: 136, devMinor: 140 } as const;

export function fileStatFromStatx(bytes: Buffer): FileStat {
  const mode = bytes.readUInt16LE(offsets.mode);
  const kind = kindOfType.get(mode & fileTypeMask);
  if (kind === undefined) throw new RangeError('statx() returned a file type holdfast does not know');
  return {
    kind,
    sizeBytes: Number(bytes.readBigUInt64LE(offsets.size)),
    mode: mode & 0o7777,
    uid: bytes.readUInt32LE(offsets.uid),
    gid: bytes.readUInt32LE(offsets.gid),
    device: makeDevice(bytes.readUInt32LE(offsets.devMajor), bytes.readUInt32LE(offsets.devMinor)),
    inode: bytes.readBigUInt64LE(offsets.inode),
    linkCount: bytes.readUInt32LE(offsets.linkCount),
    blocks: Number(bytes.readBigUInt64LE(offsets.blocks)),
    atimeNs: timestampNs(bytes, offsets.atime),
    mtimeNs: timestampNs(bytes, offsets.mtime),
    ctimeNs: timestampNs(bytes, offsets.ctime),
    deviceMajor: bytes.readUInt32LE(offsets.rdevMajor),
    deviceMinor: bytes.readUInt32LE(offsets.rdevMinor),
  };
}

/** struct statx_timestamp: int64 seconds, uint32 nanoseconds. */
function timestampNs(bytes: Buffer, offset: number): bigint {
  return bytes.readBigInt64LE(offset) * 1_000_000_000n + BigInt(bytes.readUInt32LE(offset + 8));
}
