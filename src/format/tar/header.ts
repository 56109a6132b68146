/**
 * The 512-byte tar header block. Encodes the POSIX ustar form exactly as GNU tar 1.34 writes it
 * in --format=posix (octal fields ended by NUL, "%06o\0 " checksum, magic "ustar\0" "00", no
 * prefix: GNU tar puts a long name in a pax record instead). Decodes ustar, GNU ("ustar  \0")
 * and v7 headers, verifying the checksum first; a bad checksum or field is HOLDFAST_FORMAT_INVALID
 * naming the header's byte position. Pure codec: blocks in, values out.
 */
import { assert } from '../../base/assert.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import { readNumeric, writeChecksum, writeNumeric } from './large-numbers.js';
import { copyBytes, memberContext } from './context.js';
import { checkTarLimit } from './limits.js';

export const blockBytes = 512;

/** The typeflag byte as a one-character string. */
export const typeflags = {
  oldFile: '\0',
  file: '0',
  hardlink: '1',
  symlink: '2',
  characterDevice: '3',
  blockDevice: '4',
  directory: '5',
  fifo: '6',
  contiguousFile: '7',
  paxExtended: 'x',
  paxGlobal: 'g',
  gnuLongName: 'L',
  gnuLongLink: 'K',
  gnuSparse: 'S',
  gnuVolumeLabel: 'V',
  gnuDumpDirectory: 'D',
  gnuMultiVolume: 'M',
  gnuNames: 'N',
} as const;

/** Which header layout a block uses; only 'ustar' has a prefix field. */
export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

export interface TarHeader {
  /** The name field (joined to the prefix field in ustar), up to its first NUL. */
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  sizeBytes: number;
  mtimeSeconds: bigint;
  typeflag: string;
  linkName: Buffer;
  format: HeaderFormat;
  userName: Buffer;
  groupName: Buffer;
  deviceMajor: number;
  deviceMinor: number;
}

/** What encodeHeader writes; a null leaves the field all NUL, as GNU tar does in pax headers. */
export interface HeaderFields {
  /** Truncated to the 100-byte field as GNU tar's strncpy does; the caller adds a pax path. */
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  sizeBytes: number;
  mtimeSeconds: bigint;
  typeflag: string;
  linkName: Buffer | null;
  userName: Buffer | null;
  groupName: Buffer | null;
  deviceMajor: number | null;
  deviceMinor: number | null;
}

const field = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkName: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  userName: [265, 32],
  groupName: [297, 32],
  deviceMajor: [329, 8],
  deviceMinor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export const nameFieldBytes = field.name[1];
export const linkNameFieldBytes = field.linkName[1];
export const userNameFieldBytes = field.userName[1];

const ustarMagic = Buffer.from('ustar\x0000', 'latin1');
const gnuMagic = Buffer.from('ustar  \x00', 'latin1');
const zeroBlock = Buffer.alloc(blockBytes);
const emptyBytes = Buffer.alloc(0);
const slash = Buffer.from('/');

export function isZeroBlock(block: Buffer): boolean {
  return block.length === blockBytes && block.equals(zeroBlock);
}

/** Writes one header block into target[0, 512), checksum included. */
export function encodeHeader(fields: HeaderFields, target: Buffer): void {
  assert(target.length >= blockBytes, 'a header needs a 512-byte block');
  target.fill(0, 0, blockBytes);
  copyField(target, field.name, fields.name);
  numeric(target, field.mode, fields.mode);
  numeric(target, field.uid, fields.uid);
  numeric(target, field.gid, fields.gid);
  numeric(target, field.size, fields.sizeBytes);
  numeric(target, field.mtime, fields.mtimeSeconds);
  target.write(fields.typeflag, field.typeflag[0], 1, 'latin1');
  if (fields.linkName !== null) copyField(target, field.linkName, fields.linkName);
  ustarMagic.copy(target, field.magic[0]);
  if (fields.userName !== null) copyField(target, field.userName, fields.userName);
  if (fields.groupName !== null) copyField(target, field.groupName, fields.groupName);
  if (fields.deviceMajor !== null) numeric(target, field.deviceMajor, fields.deviceMajor);
  if (fields.deviceMinor !== null) numeric(target, field.deviceMinor, fields.deviceMinor);
  writeChecksum(target, field.checksum[0], checksums(target).unsigned);
}

function copyField(target: Buffer, [offset, length]: readonly [number, number], value: Buffer): void {
  value.copy(target, offset, 0, Math.min(value.length, length));
}

function numeric(target: Buffer, [offset, length]: readonly [number, number], value: number | bigint): void {
  // The caller moves a value that does not fit into a pax record; base-256 is the last resort.
  assert(writeNumeric(target, offset, length, value), `${value} does not fit a ${length}-byte tar field`);
}

/** Sums of the block with the checksum field taken as spaces: as bytes and as signed bytes. */
function checksums(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let highBytes = 0;
  for (let index = 0; index < blockBytes; index++) {
    const byte = block[index]!;
    unsigned += byte;
    highBytes += byte >>> 7;
  }
  const [checksumStart, checksumLength] = field.checksum;
  for (let index = checksumStart; index < checksumStart + checksumLength; index++) {
    const byte = block[index]!;
    unsigned += 0x20 - byte;
    highBytes -= byte >>> 7;
  }
  // A signed byte above 127 counts 256 less.
  return { unsigned, signed: unsigned - 256 * highBytes };
}

function untilNul(bytes: Buffer): Buffer {
  const end = bytes.indexOf(0);
  return end === -1 ? bytes : bytes.subarray(0, end);
}

function slice(block: Buffer, [offset, length]: readonly [number, number]): Buffer {
  return block.subarray(offset, offset + length);
}

/**
 * Decodes one non-zero header block found at `positionBytes`. Verifies the checksum (GNU tar
 * also accepts the signed-byte sum of some old writers). The returned Buffers are copies.
 */
export function decodeHeader(block: Buffer, positionBytes: number, operation: string): TarHeader {
  const format = headerFormat(block);
  const name = untilNul(slice(block, field.name));
  const prefix = format === 'ustar' ? untilNul(slice(block, field.prefix)) : emptyBytes;
  const fullName = prefix.length > 0 ? Buffer.concat([prefix, slash, name]) : copyBytes(name);
  const context = memberContext(operation, fullName);
  const invalid = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', context, `the header at byte ${positionBytes} ${reason}`);

  const storedChecksum = readNumeric(slice(block, field.checksum));
  const { unsigned, signed } = checksums(block);
  if (storedChecksum === null) throw invalid('has a checksum field that is not a number');
  if (storedChecksum !== BigInt(unsigned) && storedChecksum !== BigInt(signed)) {
    throw invalid(`has checksum ${storedChecksum.toString(8)} (octal) but its bytes sum to ${unsigned.toString(8)}`);
  }
  const number = (name: keyof typeof field, what: string): bigint => {
    const value = readNumeric(slice(block, field[name]));
    // A field of blanks is 0, as bsdtar reads it and GNU tar when a NUL ends the blanks (eight
    // blanks it reads as -1 with "Blanks in header", exit 2, and extracts the member all the same).
    if (value === null) throw invalid(`has a ${what} field that is not a number`);
    return value;
  };
  const unsignedNumber = (name: keyof typeof field, what: string, limit: 'idMax' | 'entrySizeBytesMax'): number => {
    const value = number(name, what);
    if (value < 0n) throw invalid(`has a negative ${what} field`);
    checkTarLimit(limit, value, `the ${what} in the header at byte ${positionBytes}`, context);
    return Number(value);
  };
  const typeflag = String.fromCharCode(block[field.typeflag[0]]!);
  const hasOwnerNames = format !== 'v7';
  return {
    name: fullName,
    mode: Number(number('mode', 'mode') & 0o7777n),
    uid: unsignedNumber('uid', 'uid', 'idMax'),
    gid: unsignedNumber('gid', 'gid', 'idMax'),
    sizeBytes: unsignedNumber('size', 'size', 'entrySizeBytesMax'),
    mtimeSeconds: number('mtime', 'mtime'),
    typeflag,
    linkName: copyBytes(untilNul(slice(block, field.linkName))),
    format,
    userName: hasOwnerNames ? copyBytes(untilNul(slice(block, field.userName))) : emptyBytes,
    groupName: hasOwnerNames ? copyBytes(untilNul(slice(block, field.groupName))) : emptyBytes,
    // Only device entries carry device numbers; GNU and v7 leave the fields of others empty.
    deviceMajor: isDevice(typeflag) ? unsignedNumber('deviceMajor', 'devmajor', 'idMax') : 0,
    deviceMinor: isDevice(typeflag) ? unsignedNumber('deviceMinor', 'devminor', 'idMax') : 0,
  };
}

function isDevice(typeflag: string): boolean {
  return typeflag === typeflags.characterDevice || typeflag === typeflags.blockDevice;
}

function headerFormat(block: Buffer): HeaderFormat {
  const magicAndVersion = block.subarray(field.magic[0], field.magic[0] + 8);
  if (magicAndVersion.equals(gnuMagic)) return 'gnu';
  // Some ustar writers put spaces or NULs in the version; the magic alone decides.
  if (magicAndVersion.subarray(0, 6).equals(ustarMagic.subarray(0, 6))) return 'ustar';
  return 'v7';
}
