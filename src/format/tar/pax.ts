/**
 * pax extended header records (POSIX.1-2001 'x' and 'g' headers): "%d %s=%s\n", where the decimal
 * length counts the whole record, its own digits included. Keys are text; values are raw bytes
 * (an xattr value, a path that is not UTF-8) and may hold newlines, '=' and NULs.
 *
 * Times are decimal seconds with up to 9 fraction digits. GNU tar 1.34 writes the true signed
 * value with trailing fraction zeros dropped: 1960-06-01 00:00:00.25 UTC, which is -302486400 s
 * plus 0.25 s, is "-302486399.75"; 0.25 s before 1970 is "-0.25"; whole seconds have no point.
 * libarchive 3.6 (bsdtar) instead writes the seconds and the nanoseconds apart, the same instant
 * as "-302486400.25"; libarchivePaxTimeNs() reads that form, for the decoder to use when it can
 * tell a header came from libarchive.
 *
 * Pure codec: bytes in, values out. Malformed records are HOLDFAST_FORMAT_INVALID naming the
 * record's byte position in the archive.
 */
import type { ErrorContext } from '../../errors/holdfast-error.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import { checkTarLimit } from './limits.js';

export interface PaxRecord {
  key: string;
  value: Buffer;
}

const space = 0x20;
const equals = 0x3d;
const newline = 0x0a;
/** A length field longer than this cannot fit the paxHeaderBytesMax limit anyway. */
const lengthDigitsMax = 10;

/** The whole record's length: the digits count themselves, so one more digit may be needed. */
export function paxRecordBytes(keyBytes: number, valueBytes: number): number {
  const rest = keyBytes + valueBytes + 3; // the space, '=' and '\n'
  let digits = String(rest).length;
  if (String(rest + digits).length > digits) digits++;
  return rest + digits;
}

export function encodePaxRecords(records: readonly PaxRecord[]): Buffer {
  const keys = records.map((record) => Buffer.from(record.key, 'utf8'));
  const lengths = records.map((record, index) => paxRecordBytes(keys[index]!.length, record.value.length));
  const target = Buffer.allocUnsafe(lengths.reduce((sum, length) => sum + length, 0));
  let offset = 0;
  records.forEach((record, index) => {
    offset += target.write(`${lengths[index]} `, offset, 'latin1');
    offset += keys[index]!.copy(target, offset);
    target[offset++] = equals;
    offset += record.value.copy(target, offset);
    target[offset++] = newline;
  });
  return target;
}

/**
 * The records of one pax header's data, in order. `positionBytes` is where the data starts in
 * the archive, for messages. Values are views of `bytes`.
 */
export function decodePaxRecords(bytes: Buffer, positionBytes: number, context: ErrorContext): PaxRecord[] {
  const records: PaxRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const invalid = (reason: string): Error =>
      holdfastError('HOLDFAST_FORMAT_INVALID', context, `malformed pax record at byte ${positionBytes + offset}: ${reason}`);
    const spaceIndex = bytes.indexOf(space, offset);
    const digits = bytes.toString('latin1', offset, spaceIndex === -1 ? bytes.length : spaceIndex);
    if (/^[0-9]+$/.test(digits) && digits.length > lengthDigitsMax) {
      throw holdfastError('HOLDFAST_LIMIT_EXCEEDED', context, `a pax record at byte ${positionBytes + offset} declares ${digits.length > 20 ? `${digits.slice(0, 20)}...` : digits} bytes, over the limit of the header`);
    }
    if (spaceIndex === -1 || !/^[0-9]+$/.test(digits)) throw invalid('no decimal length before a space');
    const length = Number(digits);
    const end = offset + length;
    if (length <= digits.length + 3 || end > bytes.length) {
      throw invalid(`its length ${length} does not fit the ${bytes.length - offset} bytes left in the header`);
    }
    if (bytes[end - 1] !== newline) throw invalid(`its length ${length} does not end at a newline`);
    const equalsIndex = bytes.indexOf(equals, spaceIndex + 1);
    if (equalsIndex === -1 || equalsIndex >= end - 1) throw invalid('it has no "="');
    if (equalsIndex === spaceIndex + 1) throw invalid('its key is empty');
    checkTarLimit('paxRecordCountMax', records.length + 1, 'the number of pax records in one header', context);
    records.push({ key: bytes.toString('utf8', spaceIndex + 1, equalsIndex), value: bytes.subarray(equalsIndex + 1, end - 1) });
    offset = end;
  }
  return records;
}

const billion = 1_000_000_000n;

/** Floor division, so the fraction of a time before 1970 is counted forward from a whole second. */
export function floorDivide(dividend: bigint, divisor: bigint): bigint {
  const quotient = dividend / divisor;
  return dividend % divisor < 0n ? quotient - 1n : quotient;
}

/** A time in nanoseconds since 1970 as GNU tar 1.34 writes it (see the file comment). */
export function encodePaxTime(timeNs: bigint): string {
  const negative = timeNs < 0n;
  const magnitude = negative ? -timeNs : timeNs;
  const wholeSeconds = magnitude / billion;
  const fractionNs = magnitude % billion;
  const fraction = fractionNs === 0n ? '' : `.${fractionNs.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${negative ? '-' : ''}${wholeSeconds}${fraction}`;
}

export interface PaxTime {
  negative: boolean;
  wholeSeconds: bigint;
  /** The fraction's first nine digits as nanoseconds; later digits are dropped. */
  fractionNs: bigint;
}

export function parsePaxTime(text: string): PaxTime | null {
  const match = /^(-?)([0-9]{1,20})(?:\.([0-9]*))?$/.exec(text);
  if (match === null) return null;
  const fractionDigits = (match[3] ?? '').slice(0, 9).padEnd(9, '0');
  return { negative: match[1] === '-', wholeSeconds: BigInt(match[2]!), fractionNs: BigInt(fractionDigits) };
}

/**
 * A time followed by bytes that are no part of it ("1748089464.951928467a", as some writer left
 * it): GNU tar 1.34 and bsdtar 3.6 read the number and ignore the rest, silently. The time and
 * the rest, or null when the value does not open with a number (both tools drop such a record).
 */
export function parsePaxTimeBeforeGarbage(text: string): { time: PaxTime; garbage: string } | null {
  const number = /^-?[0-9]+(?:\.[0-9]*)?/.exec(text)?.[0];
  if (number === undefined || number.length === text.length) return null;
  const time = parsePaxTime(number);
  return time === null ? null : { time, garbage: text.slice(number.length) };
}

/** The value as POSIX defines it: a signed decimal number of seconds. */
export function paxTimeNs(time: PaxTime): bigint {
  const magnitude = time.wholeSeconds * billion + time.fractionNs;
  return time.negative ? -magnitude : magnitude;
}

/** The value as libarchive 3.6 writes it: signed whole seconds, then nanoseconds added forward. */
export function libarchivePaxTimeNs(time: PaxTime): bigint {
  return (time.negative ? -time.wholeSeconds : time.wholeSeconds) * billion + time.fractionNs;
}

/** A non-negative decimal integer value (size, uid, GNU.sparse.realsize), or null. */
export function parsePaxDecimal(value: Buffer): bigint | null {
  const text = value.toString('latin1');
  return /^[0-9]{1,20}$/.test(text) ? BigInt(text) : null;
}
