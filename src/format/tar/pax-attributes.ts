/**
 * What the pax records in effect for one entry say. Records apply in order: the archive's global
 * 'g' records first, then the entry's own 'x' records, a later record overriding an earlier one
 * of the same key. As POSIX says, an empty value removes a field (the ustar header's value then
 * counts again), except for an xattr, whose value may be empty. Keys this reader does not know
 * (comment, charset, SCHILY.dev, LIBARCHIVE.creationtime...) are skipped (rule D3).
 * Pure codec; a value that does not parse is HOLDFAST_FORMAT_INVALID, except a time followed by
 * garbage, which is read as GNU tar and bsdtar read it, with a warning in `warnings`.
 */
import type { ErrorContext } from '../../errors/holdfast-error.js';
import { holdfastError } from '../../errors/holdfast-error.js';
import type { Extent } from '../entry.js';
import { checkTarLimit } from './limits.js';
import { parsePaxDecimal, parsePaxTime, parsePaxTimeBeforeGarbage, type PaxRecord, type PaxTime } from './pax.js';
import { xattrFromPax } from './xattr-names.js';

export interface SparseAttributes {
  major: bigint | null;
  minor: bigint | null;
  name: Buffer | null;
  /** GNU.sparse.realsize (1.0) or GNU.sparse.size (0.0, 0.1). */
  realSizeBytes: bigint | null;
  /** GNU.sparse.map (0.1). */
  mapText: string | null;
  /** GNU.sparse.offset / GNU.sparse.numbytes pairs (0.0), in order. */
  pairs: Extent[];
}

export interface PaxAttributes {
  path: Buffer | null;
  linkPath: Buffer | null;
  sizeBytes: bigint | null;
  uid: bigint | null;
  gid: bigint | null;
  userName: Buffer | null;
  groupName: Buffer | null;
  mtime: PaxTime | null;
  atime: PaxTime | null;
  ctime: PaxTime | null;
  deviceMajor: bigint | null;
  deviceMinor: bigint | null;
  /** By name, in the order first seen; bsdtar's two records of one xattr give one entry. */
  xattrs: Map<string, Buffer>;
  aclAccessText: string | null;
  aclDefaultText: string | null;
  sparse: SparseAttributes;
  /** What was read leniently, for the caller to report with the entry's name. */
  warnings: string[];
}

/** Folds a 'g' header's records into the archive's global records. */
export function applyGlobalRecords(global: Map<string, Buffer>, records: readonly PaxRecord[]): void {
  for (const record of records) {
    if (record.value.length === 0) global.delete(record.key);
    else global.set(record.key, Buffer.from(record.value));
  }
}

type Field = 'path' | 'linkPath' | 'userName' | 'groupName';
const bytesFields: Readonly<Record<string, Field>> = { path: 'path', linkpath: 'linkPath', uname: 'userName', gname: 'groupName' };
type NumberField = 'sizeBytes' | 'uid' | 'gid' | 'deviceMajor' | 'deviceMinor';
const numberFields: Readonly<Record<string, NumberField>> = {
  size: 'sizeBytes',
  uid: 'uid',
  gid: 'gid',
  'SCHILY.devmajor': 'deviceMajor',
  'SCHILY.devminor': 'deviceMinor',
};
const timeFields: Readonly<Record<string, 'mtime' | 'atime' | 'ctime'>> = { mtime: 'mtime', atime: 'atime', ctime: 'ctime' };

/**
 * The attributes the records say. Byte values are views of the records' buffers: the caller
 * copies what it keeps.
 */
export function collectPaxAttributes(global: ReadonlyMap<string, Buffer>, local: readonly PaxRecord[], context: ErrorContext): PaxAttributes {
  const attributes: PaxAttributes = {
    path: null,
    linkPath: null,
    sizeBytes: null,
    uid: null,
    gid: null,
    userName: null,
    groupName: null,
    mtime: null,
    atime: null,
    ctime: null,
    deviceMajor: null,
    deviceMinor: null,
    xattrs: new Map(),
    aclAccessText: null,
    aclDefaultText: null,
    sparse: { major: null, minor: null, name: null, realSizeBytes: null, mapText: null, pairs: [] },
    warnings: [],
  };
  const state = { pendingOffset: null as number | null };
  for (const [key, value] of global) applyRecord(attributes, { key, value }, state, context);
  for (const record of local) applyRecord(attributes, record, state, context);
  return attributes;
}

function invalidValue(record: PaxRecord, what: string, context: ErrorContext): Error {
  return holdfastError('HOLDFAST_FORMAT_INVALID', context, `pax record ${record.key} has "${record.value.toString('latin1').slice(0, 40)}", ${what}`);
}

function decimal(record: PaxRecord, context: ErrorContext): bigint {
  const number = parsePaxDecimal(record.value);
  if (number === null) throw invalidValue(record, 'not a decimal number', context);
  return number;
}

function time(record: PaxRecord, warnings: string[], context: ErrorContext): PaxTime {
  const text = record.value.toString('latin1');
  const exact = parsePaxTime(text);
  if (exact !== null) return exact;
  const lenient = parsePaxTimeBeforeGarbage(text);
  if (lenient === null) throw invalidValue(record, 'not a time in seconds', context);
  const number = text.slice(0, text.length - lenient.garbage.length);
  warnings.push(`pax record ${record.key} has ${JSON.stringify(text.slice(0, 40))}: read as ${number}, the ${JSON.stringify(lenient.garbage.slice(0, 20))} after it ignored, as GNU tar and bsdtar do`);
  return lenient.time;
}

function applyRecord(attributes: PaxAttributes, record: PaxRecord, state: { pendingOffset: number | null }, context: ErrorContext): void {
  const { key, value } = record;
  const empty = value.length === 0;
  const bytesField = bytesFields[key];
  const numberField = numberFields[key];
  const timeField = timeFields[key];
  if (bytesField !== undefined) attributes[bytesField] = empty ? null : value;
  else if (numberField !== undefined) attributes[numberField] = empty ? null : decimal(record, context);
  else if (timeField !== undefined) attributes[timeField] = empty ? null : time(record, attributes.warnings, context);
  else if (key === 'SCHILY.acl.access') attributes.aclAccessText = empty ? null : value.toString('utf8');
  else if (key === 'SCHILY.acl.default') attributes.aclDefaultText = empty ? null : value.toString('utf8');
  else if (key.startsWith('GNU.sparse.')) state.pendingOffset = applySparse(attributes.sparse, record, state.pendingOffset, context);
  else {
    const xattr = xattrFromPax(key, value, context);
    if (xattr === null) return;
    attributes.xattrs.set(xattr.name, xattr.value);
    checkTarLimit('xattrCountMax', attributes.xattrs.size, 'the number of xattrs', context);
  }
}

/** One GNU.sparse.* record; returns the 0.0 offset waiting for its numbytes. */
function applySparse(sparse: SparseAttributes, record: PaxRecord, pendingOffset: number | null, context: ErrorContext): number | null {
  switch (record.key) {
    case 'GNU.sparse.major':
      sparse.major = decimal(record, context);
      break;
    case 'GNU.sparse.minor':
      sparse.minor = decimal(record, context);
      break;
    case 'GNU.sparse.name':
      sparse.name = record.value;
      break;
    case 'GNU.sparse.realsize':
    case 'GNU.sparse.size':
      sparse.realSizeBytes = decimal(record, context);
      break;
    case 'GNU.sparse.map':
      sparse.mapText = record.value.toString('latin1');
      break;
    case 'GNU.sparse.offset':
      return Number(decimal(record, context));
    case 'GNU.sparse.numbytes':
      if (pendingOffset === null) {
        throw holdfastError('HOLDFAST_FORMAT_INVALID', context, 'GNU.sparse.numbytes without the GNU.sparse.offset before it');
      }
      checkTarLimit('sparseExtentCountMax', sparse.pairs.length + 1, 'the number of extents in the sparse map', context);
      sparse.pairs.push({ offsetBytes: pendingOffset, lengthBytes: Number(decimal(record, context)) });
      return null;
  }
  return pendingOffset;
}
