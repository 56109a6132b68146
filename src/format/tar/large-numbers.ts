/**
 * The numeric fields of a tar header. POSIX writes them as zero-padded octal digits ended by a NUL
 * (GNU tar) or a space (old writers, libarchive). A value too large for octal, or negative, is
 * written by GNU tar and libarchive in base-256: the field's first byte is 0x80 (positive) or
 * 0xff (negative) and the whole field is a big-endian two's complement number with that marker.
 *
 * Pure codec: writes into a caller's buffer, reads from a field's bytes; never allocates a field.
 */

/** The largest value `fieldBytes` bytes hold in octal: all but the terminating byte are digits. */
export function octalMax(fieldBytes: number): bigint {
  return 8n ** BigInt(fieldBytes - 1) - 1n;
}

/** octalMax() of the header's field sizes as numbers (8 ** 11 is well within 2 ** 53): headers are hot. */
const octalMaxNumber = new Map([8, 12].map((fieldBytes) => [fieldBytes, Number(octalMax(fieldBytes))]));

export function fitsOctal(value: number | bigint, fieldBytes: number): boolean {
  const max = octalMaxNumber.get(fieldBytes);
  if (typeof value === 'number' && max !== undefined) return value >= 0 && value <= max;
  const big = BigInt(value);
  return big >= 0n && big <= octalMax(fieldBytes);
}

/** Zero-padded octal digits ended by a NUL, as GNU tar writes every numeric field. */
export function writeOctal(target: Buffer, offset: number, fieldBytes: number, value: number | bigint): void {
  const digits = value.toString(8).padStart(fieldBytes - 1, '0');
  target.write(digits, offset, fieldBytes - 1, 'latin1');
  target[offset + fieldBytes - 1] = 0;
}

/** The chksum field's own form: six octal digits, a NUL and a space. */
export function writeChecksum(target: Buffer, offset: number, value: number): void {
  target.write(value.toString(8).padStart(6, '0'), offset, 6, 'latin1');
  target[offset + 6] = 0;
  target[offset + 7] = 0x20;
}

/** GNU tar reads only a first byte of exactly 0x80 or 0xff, so the value lives in the rest. */
export function fitsBase256(value: bigint, fieldBytes: number): boolean {
  const limit = 1n << BigInt((fieldBytes - 1) * 8);
  return value >= -limit && value < limit;
}

/** GNU base-256: a big-endian two's complement number whose first byte is 0x80 or 0xff. */
export function writeBase256(target: Buffer, offset: number, fieldBytes: number, value: bigint): void {
  let rest = BigInt.asUintN(fieldBytes * 8, value);
  for (let index = fieldBytes - 1; index >= 0; index--) {
    target[offset + index] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  target[offset] = value < 0n ? 0xff : 0x80;
}

/** Octal when it fits (as GNU tar prefers), else base-256; false when neither can hold it. */
export function writeNumeric(target: Buffer, offset: number, fieldBytes: number, value: number | bigint): boolean {
  if (fitsOctal(value, fieldBytes)) {
    writeOctal(target, offset, fieldBytes, value);
    return true;
  }
  if (!fitsBase256(BigInt(value), fieldBytes)) return false;
  writeBase256(target, offset, fieldBytes, BigInt(value));
  return true;
}

/**
 * A numeric field's value, or null when it is neither base-256 nor octal. Octal may have leading
 * spaces and ends at the first space or NUL; a field of only NULs and spaces is 0 (old writers
 * leave device numbers of a regular file empty, a Java archiver writes an unknown uid as blanks).
 * As GNU tar 1.34's from_header(): one leading NUL is skipped ("buggy tar of unknown vintage,
 * which outputs leading NUL if the previous field overflows"), so "\0" and eleven digits fill a
 * size field; a second NUL where the digits belong ends the number there, at 0, and the rest of
 * the field is not read (bsdtar reads such a field as 0 too).
 */
export function readNumeric(field: Buffer): bigint | null {
  const first = field[0];
  if (first === undefined) return null;
  if ((first & 0x80) !== 0) return readBase256(field);
  let index = first === 0 ? 1 : 0;
  if (index < field.length && field[index] === 0) return 0n;
  while (index < field.length && field[index] === 0x20) index++;
  let value = 0n;
  let digitCount = 0;
  for (; index < field.length; index++) {
    const byte = field[index]!;
    if (byte >= 0x30 && byte <= 0x37) {
      value = value * 8n + BigInt(byte - 0x30);
      digitCount++;
      continue;
    }
    if (byte !== 0x20 && byte !== 0) return null;
    break;
  }
  // Only spaces and NULs may follow the digits.
  for (; index < field.length; index++) {
    if (field[index] !== 0x20 && field[index] !== 0) return null;
  }
  return digitCount === 0 ? 0n : value;
}

function readBase256(field: Buffer): bigint | null {
  const first = field[0]!;
  if (first !== 0x80 && first !== 0xff) return null;
  let value = 0n;
  for (const byte of field) value = (value << 8n) | BigInt(byte);
  const bits = BigInt(field.length * 8);
  // 0xff: the whole field is two's complement; 0x80: the marker bit is not part of the value.
  return first === 0xff ? value - (1n << bits) : value - (1n << (bits - 1n));
}
