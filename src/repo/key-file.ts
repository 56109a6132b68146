/**
 * Key files: the master key sealed with a key derived from a password by argon2id.
 *
 * A key file is JSON (version 1):
 *   { "version": 1, "created": ISO 8601, "hostname": ..., "username": ...,
 *     "kdf": { "name": "argon2id", "memoryKiB": ..., "iterations": ..., "parallelism": ... },
 *     "salt": base64 (16 to 64 bytes), "data": base64(seal(kdfKey, encodeMasterKey(master))) }
 * The kdf key is the 32-byte raw argon2id (version 0x13) hash of the password with that salt.
 * created, hostname and username are for `key list` only and are not authenticated; everything
 * that goes into the derivation is, since another salt or kdf parameter gives another key.
 *
 * A key file is hostile input until it opens: its size, its strings and its kdf parameters have
 * limits (a file must not be able to make us allocate a terabyte or spin for hours), a malformed
 * file is HOLDFAST_FORMAT_INVALID, another version HOLDFAST_FORMAT_VERSION, and a tag that does
 * not verify HOLDFAST_WRONG_PASSWORD: with a well-formed file a wrong password is the likely cause.
 * An empty file, or JSON that opens and never closes, is HOLDFAST_FORMAT_TRUNCATED.
 *
 * The format's kdf limits say what a file may hold and still be read (and listed); what a key may
 * cost to open is bounded far lower, near what holdfast writes (kdfOpenWorkKiBMax): a file that
 * asks for more was not written by holdfast, and is refused with HOLDFAST_LIMIT_EXCEEDED instead
 * of stalling every command for minutes and gigabytes.
 */
import { randomBytes } from 'node:crypto';
import { hashRaw, type Algorithm, type Version } from '@node-rs/argon2';
import { holdfastError } from '../errors/holdfast-error.js';
import { decodeMasterKey, encodeMasterKey, encodedMasterKeyBytes, type MasterKey } from './master-key.js';
import { open, seal, sealOverheadBytes } from './seal.js';

export interface KdfParameters {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

export interface KeyFileSummary {
  version: 1;
  /** ISO 8601 as written; not authenticated. */
  created: string;
  hostname: string;
  username: string;
  kdf: { name: 'argon2id' } & KdfParameters;
}

/** One derivation takes about 100-150 ms on the 2-core machine this was measured on. */
export const defaultKdfParameters: Readonly<KdfParameters> = Object.freeze({ memoryKiB: 64 * 1024, iterations: 4, parallelism: 1 });
/** Fast (a few ms) and weak: for tests only. */
export const testKdfParameters: Readonly<KdfParameters> = Object.freeze({ memoryKiB: 8 * 1024, iterations: 1, parallelism: 1 });

export const keyFileVersion = 1;
export const keyFileBytesMax = 64 * 1024;
export const kdfMemoryKiBMin = 8 * 1024;
export const kdfMemoryKiBMax = 4 * 1024 * 1024;
export const kdfIterationsMax = 100;
export const kdfParallelismMax = 16;
export const saltBytesMin = 16;
export const saltBytesMax = 64;
export const keyFileTextFieldLengthMax = 1024;

/**
 * Opening a key costs argon2's memory times its passes; holdfast writes 64 MiB × 4 passes (about
 * 100-150 ms). A key may ask for up to four times that work, and up to four times that memory
 * (256 MiB), so that a repository made with heavier settings still opens; a key that asks for more
 * is not tried. Without this bound a planted key within the format's limits (4 GiB, 100 passes)
 * kept every command busy for minutes at 4 GiB of memory before the next key was tried.
 */
export const kdfOpenMemoryKiBMax = 4 * defaultKdfParameters.memoryKiB;
export const kdfOpenWorkKiBMax = 4 * defaultKdfParameters.memoryKiB * defaultKdfParameters.iterations;

const saltBytes = 32;
const kdfKeyBytes = 32;
const argon2id = 2 as Algorithm;
const argon2Version13 = 1 as Version;
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface ParsedKeyFile extends KeyFileSummary {
  salt: Buffer;
  data: Buffer;
}

type Context = { path: string };

/** A new key file for `master`, sealed under `password`, as the bytes to write. */
export async function createKeyFile(
  master: MasterKey,
  password: Buffer,
  options: { kdf?: KdfParameters; hostname: string; username: string },
): Promise<Buffer> {
  const kdf = options.kdf ?? defaultKdfParameters;
  checkKdfParameters(kdf, { operation: 'create key file', path: 'new key' });
  // A key holdfast writes, holdfast must be willing to open.
  checkKdfCost(kdf, { operation: 'create key file', path: 'new key' });
  const salt = randomBytes(saltBytes);
  const kdfKey = await deriveKey(password, salt, kdf);
  const encoded = encodeMasterKey(master);
  const data = seal(kdfKey, encoded);
  encoded.fill(0);
  kdfKey.fill(0);
  const file = {
    version: keyFileVersion,
    created: new Date().toISOString(),
    hostname: options.hostname,
    username: options.username,
    kdf: { name: 'argon2id', ...pickKdf(kdf) },
    salt: salt.toString('base64'),
    data: data.toString('base64'),
  };
  return Buffer.from(`${JSON.stringify(file, null, 2)}\n`);
}

/**
 * The master key in `bytes`, if `password` opens it. HOLDFAST_WRONG_PASSWORD when it does not;
 * HOLDFAST_FORMAT_INVALID, HOLDFAST_FORMAT_VERSION or HOLDFAST_LIMIT_EXCEEDED for a file that
 * cannot be a key file of this version or asks for more work than kdfOpenWorkKiBMax (checked
 * before any derivation).
 */
export async function openKeyFile(bytes: Uint8Array, password: Buffer, context: Context): Promise<MasterKey> {
  const parsed = parseKeyFile(bytes, context);
  checkKdfCost(parsed.kdf, { operation: 'open key file', path: context.path });
  const kdfKey = await deriveKey(password, parsed.salt, parsed.kdf);
  let encoded: Buffer;
  try {
    encoded = open(kdfKey, parsed.data, undefined, { operation: 'open key file', path: context.path });
  } catch (error) {
    throw holdfastError('HOLDFAST_WRONG_PASSWORD', { operation: 'open key file', path: context.path, cause: error }, 'the password does not open this key');
  } finally {
    kdfKey.fill(0);
  }
  try {
    return decodeMasterKey(encoded, context);
  } finally {
    encoded.fill(0);
  }
}

/** The unencrypted fields, for `key list`; the same checks as openKeyFile() but no password. */
export function readKeyFileSummary(bytes: Uint8Array, context: Context = { path: 'key file' }): KeyFileSummary {
  const { version, created, hostname, username, kdf } = parseKeyFile(bytes, context);
  return { version, created, hostname, username, kdf };
}

async function deriveKey(password: Buffer, salt: Buffer, kdf: KdfParameters): Promise<Buffer> {
  return hashRaw(password, {
    algorithm: argon2id,
    version: argon2Version13,
    memoryCost: kdf.memoryKiB,
    timeCost: kdf.iterations,
    parallelism: kdf.parallelism,
    outputLen: kdfKeyBytes,
    salt,
  });
}

function parseKeyFile(bytes: Uint8Array, context: Context): ParsedKeyFile {
  const errorContext = { operation: 'read key file', path: context.path };
  const invalid = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', errorContext, reason);
  if (bytes.length > keyFileBytesMax) {
    throw holdfastError('HOLDFAST_LIMIT_EXCEEDED', errorContext, `the key file is ${bytes.length} bytes, over the limit of ${keyFileBytesMax}`);
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.trim() === '') throw holdfastError('HOLDFAST_FORMAT_TRUNCATED', errorContext, `the key file is empty (${bytes.length} bytes): it was cut short`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // A key file is one JSON object: one that opens and never closes was cut short, not garbled.
    if (/^\s*\{/.test(text) && !/\}\s*$/.test(text)) {
      throw holdfastError('HOLDFAST_FORMAT_TRUNCATED', { ...errorContext, cause: error }, `the key file ends in the middle of its JSON (${bytes.length} bytes): it was cut short`);
    }
    throw holdfastError('HOLDFAST_FORMAT_INVALID', { ...errorContext, cause: error }, 'the key file is not JSON');
  }
  if (!isRecord(json)) throw invalid('the key file is not a JSON object');
  if (typeof json.version !== 'number') throw invalid('the key file has no version number');
  if (json.version !== keyFileVersion) {
    throw holdfastError('HOLDFAST_FORMAT_VERSION', errorContext, `key file version ${json.version} is not known (this holdfast reads version ${keyFileVersion})`);
  }
  const created = textField(json, 'created', invalid);
  if (Number.isNaN(Date.parse(created))) throw invalid(`"created" is not a date: ${JSON.stringify(created)}`);
  const kdf = json.kdf;
  if (!isRecord(kdf) || kdf.name !== 'argon2id') throw invalid('"kdf" is not {"name": "argon2id", ...}');
  const kdfParameters = {
    memoryKiB: integerField(kdf, 'memoryKiB', invalid),
    iterations: integerField(kdf, 'iterations', invalid),
    parallelism: integerField(kdf, 'parallelism', invalid),
  };
  checkKdfParameters(kdfParameters, errorContext);
  const salt = base64Field(json, 'salt', invalid);
  if (salt.length < saltBytesMin || salt.length > saltBytesMax) throw invalid(`the salt is ${salt.length} bytes, not ${saltBytesMin} to ${saltBytesMax}`);
  const data = base64Field(json, 'data', invalid);
  const dataBytes = sealOverheadBytes + encodedMasterKeyBytes;
  if (data.length !== dataBytes) throw invalid(`"data" is ${data.length} bytes, not ${dataBytes}`);
  return {
    version: keyFileVersion,
    created,
    hostname: textField(json, 'hostname', invalid),
    username: textField(json, 'username', invalid),
    kdf: { name: 'argon2id', ...kdfParameters },
    salt,
    data,
  };
}

/** The limits a key file's kdf must keep: memory 8 MiB to 4 GiB, 1 to 100 passes, 1 to 16 lanes. */
function checkKdfParameters(kdf: KdfParameters, context: { operation: string; path: string }): void {
  const within = (value: number, min: number, max: number): boolean => Number.isSafeInteger(value) && value >= min && value <= max;
  const problems = [
    within(kdf.memoryKiB, kdfMemoryKiBMin, kdfMemoryKiBMax) ? null : `memoryKiB ${kdf.memoryKiB} is not ${kdfMemoryKiBMin} to ${kdfMemoryKiBMax}`,
    within(kdf.iterations, 1, kdfIterationsMax) ? null : `iterations ${kdf.iterations} is not 1 to ${kdfIterationsMax}`,
    within(kdf.parallelism, 1, kdfParallelismMax) ? null : `parallelism ${kdf.parallelism} is not 1 to ${kdfParallelismMax}`,
  ].filter((problem) => problem !== null);
  if (problems.length > 0) throw holdfastError('HOLDFAST_FORMAT_INVALID', context, `kdf parameters out of bounds: ${problems.join('; ')}`);
}

/** What deriving a key with these parameters costs: argon2's memory times its passes, in KiB × passes. */
export function kdfWorkKiB(kdf: KdfParameters): number {
  return kdf.memoryKiB * kdf.iterations;
}

/**
 * HOLDFAST_LIMIT_EXCEEDED when deriving a key with `kdf` would cost more memory or work than
 * holdfast allows (kdfOpenMemoryKiBMax, kdfOpenWorkKiBMax): such a key is not tried.
 */
export function checkKdfCost(kdf: KdfParameters, context: { operation: string; path: string }): void {
  if (kdf.memoryKiB <= kdfOpenMemoryKiBMax && kdfWorkKiB(kdf) <= kdfOpenWorkKiBMax) return;
  const mebibytes = (kibibytes: number): string => `${Math.round(kibibytes / 1024)} MiB`;
  throw holdfastError(
    'HOLDFAST_LIMIT_EXCEEDED',
    context,
    `its kdf asks for ${mebibytes(kdf.memoryKiB)} × ${kdf.iterations} passes, more than holdfast opens (at most ${mebibytes(kdfOpenMemoryKiBMax)}, and ${mebibytes(kdfOpenWorkKiBMax)} × 1 pass of work: four times what it writes), so it was not tried; holdfast did not write this key file (it was planted or damaged)`,
  );
}

function pickKdf(kdf: KdfParameters): KdfParameters {
  return { memoryKiB: kdf.memoryKiB, iterations: kdf.iterations, parallelism: kdf.parallelism };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textField(record: Record<string, unknown>, name: string, invalid: (reason: string) => Error): string {
  const value = record[name];
  if (typeof value !== 'string') throw invalid(`"${name}" is missing or not a string`);
  if (value.length > keyFileTextFieldLengthMax) throw invalid(`"${name}" is longer than ${keyFileTextFieldLengthMax} characters`);
  return value;
}

function integerField(record: Record<string, unknown>, name: string, invalid: (reason: string) => Error): number {
  const value = record[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(`"kdf.${name}" is missing or not an integer`);
  return value;
}

function base64Field(record: Record<string, unknown>, name: string, invalid: (reason: string) => Error): Buffer {
  const text = textField(record, name, invalid);
  if (!base64Pattern.test(text)) throw invalid(`"${name}" is not base64`);
  return Buffer.from(text, 'base64');
}
