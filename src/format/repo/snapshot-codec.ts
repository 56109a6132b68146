/**
 * Snapshot and config files (docs/repository-format.md): JSON, checked field by field when read,
 * so a damaged or foreign file is a clear error and not a crash later. Snapshots are sealed by
 * the repository before they are stored; the config is plain (it holds no secret, and it must be
 * readable before a key is opened, to tell a foreign directory or a newer version apart).
 */
import { holdfastError } from '../../errors/holdfast-error.js';

export const repositoryFormatName = 'holdfast-repository';
export const repositoryVersion = 1;
/**
 * 2: a file-tree snapshot's entries are named by their absolute path without the leading "/"
 * ("srv/www/index.html"), with the directories above each root as entries of their own. 1 (still
 * read, and still written for volumes, whose one entry has no place on a file system): names
 * begin at each root's own name ("www/index.html").
 */
export const snapshotVersion = 2;

export interface RepositoryConfig {
  format: typeof repositoryFormatName;
  version: number;
  /** 64 hex characters, random. */
  id: string;
  created: string;
  /**
   * 64 hex: proves which master key is this repository's (keyCheck() in repo/repository.ts), so a
   * key file left by an init that lost a race, or did not finish, is never taken for one of its
   * keys. Configs written before it was added lack it.
   */
  keyCheck?: string;
}

export interface SnapshotSummary {
  entries: number;
  files: number;
  /** Raw bytes of file data in the snapshot. */
  dataBytes: number;
  /** Files taken from the parent snapshot without reading them. */
  filesUnchanged: number;
  /** Chunks and raw bytes this backup stored that the repository did not have. */
  chunksAdded: number;
  rawBytesAdded: number;
  storedBytesAdded: number;
  /** Entries left out (unreadable) or changed while read. */
  problems: number;
  durationMs: number;
}

export interface Snapshot {
  version: number;
  time: string;
  hostname: string;
  username: string;
  paths: string[];
  tags: string[];
  /** The snapshot id this one was compared with, or null. */
  parent: string | null;
  /** Tree blob ids (hex), in order: their entries concatenated are the snapshot. */
  trees: string[];
  summary: SnapshotSummary;
  /** A volume backup's source and change map (backup --volume); absent for file trees. */
  volume?: VolumeMetadata;
  /** The id of the snapshot as its backup stored it, when `tag` changed it since; absent otherwise. */
  original?: string;
}

/** What a volume backup read, and from which change map: the next backup's parent test. */
export interface VolumeMetadata {
  /** The NBD URI or the image file's absolute path. */
  source: string;
  /** The NBD export name; null for an image file. */
  exportName: string | null;
  /** The change map's generation (32 hex) and snapshot sequence; null without a change map. */
  generation: string | null;
  sequence: number | null;
  /** The block size of the chunk list: one chunk per data block. */
  granularityBytes: number;
  sizeBytes: number;
  blocksRead: number;
  /** Blocks taken from the parent without reading them. */
  blocksUnchanged: number;
  bytesRead: number;
  /** Why the backup was full or incremental, for the user. */
  reason: string;
}

const hexId = /^[0-9a-f]{64}$/;

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
}

export function decodeConfig(bytes: Buffer, path: string): RepositoryConfig {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'open repository', path }, reason);
  const value = parseJson(bytes, fail) as Partial<RepositoryConfig>;
  if (value.format !== repositoryFormatName) throw fail('it is not the config of a holdfast repository (no "format": "holdfast-repository")');
  if (typeof value.version !== 'number') throw fail('it has no version');
  if (value.version !== repositoryVersion) {
    throw holdfastError('HOLDFAST_FORMAT_VERSION', { operation: 'open repository', path }, `it is a repository of format version ${value.version}; this holdfast reads version ${repositoryVersion} only${value.version > repositoryVersion ? ' (a newer holdfast made it)' : ''}`);
  }
  if (typeof value.id !== 'string' || !hexId.test(value.id) || typeof value.created !== 'string') throw fail('it lacks an id or a creation time');
  if (value.keyCheck !== undefined && (typeof value.keyCheck !== 'string' || !hexId.test(value.keyCheck))) throw fail('its keyCheck is not 64 hex characters');
  return value as RepositoryConfig;
}

export function decodeSnapshot(bytes: Buffer, name: string): Snapshot {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_FORMAT_INVALID', { operation: 'read snapshot', path: name }, reason);
  const value = parseJson(bytes, fail) as Partial<Snapshot>;
  if (typeof value.version !== 'number') throw fail('it has no version');
  if (!Number.isInteger(value.version) || value.version < 1 || value.version > snapshotVersion) throw holdfastError('HOLDFAST_FORMAT_VERSION', { operation: 'read snapshot', path: name }, `snapshot version ${value.version} is not one this holdfast reads (1 to ${snapshotVersion})`);
  const strings = (list: unknown): list is string[] => Array.isArray(list) && list.every((item) => typeof item === 'string');
  if (typeof value.time !== 'string' || Number.isNaN(Date.parse(value.time))) throw fail('it has no valid time');
  if (typeof value.hostname !== 'string' || typeof value.username !== 'string') throw fail('it has no host or user name');
  if (!strings(value.paths) || !strings(value.tags)) throw fail('its paths or tags are not lists of strings');
  if (value.parent !== null && (typeof value.parent !== 'string' || !hexId.test(value.parent))) throw fail('its parent is not a snapshot id');
  if (!strings(value.trees) || !value.trees.every((id) => hexId.test(id))) throw fail('its trees are not blob ids');
  if (typeof value.summary !== 'object' || value.summary === null) throw fail('it has no summary');
  if (value.volume !== undefined) checkVolume(value.volume as unknown, fail);
  if (value.original !== undefined && (typeof value.original !== 'string' || !hexId.test(value.original))) throw fail('its original is not a snapshot id');
  return value as Snapshot;
}

/** A snapshot's `volume` field, field by field (snapshots without it stay valid). */
function checkVolume(volume: unknown, fail: (reason: string) => Error): void {
  if (typeof volume !== 'object' || volume === null || Array.isArray(volume)) throw fail('its volume is not an object');
  const field = (volume as Record<string, unknown>);
  const count = (name: string): boolean => Number.isSafeInteger(field[name]) && (field[name] as number) >= 0;
  if (typeof field['source'] !== 'string' || typeof field['reason'] !== 'string') throw fail('its volume has no source or reason');
  if (field['exportName'] !== null && typeof field['exportName'] !== 'string') throw fail('its volume\'s export name is not a string or null');
  if (field['generation'] !== null && (typeof field['generation'] !== 'string' || !/^[0-9a-f]{32}$/.test(field['generation']))) throw fail('its volume\'s generation is not 32 hex characters or null');
  if (field['sequence'] !== null && !count('sequence')) throw fail('its volume\'s sequence is not a count or null');
  if (!count('granularityBytes') || (field['granularityBytes'] as number) === 0) throw fail('its volume\'s granularity is not a positive count');
  for (const name of ['sizeBytes', 'blocksRead', 'blocksUnchanged', 'bytesRead']) if (!count(name)) throw fail(`its volume's ${name} is not a count`);
}

function parseJson(bytes: Buffer, fail: (reason: string) => Error): unknown {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('it is not a JSON object');
    return value;
  } catch (error) {
    // V8 quotes the input in its message: binary (a foreign file) must not reach a terminal raw.
    if (error instanceof SyntaxError) throw fail(`it is not valid JSON (${printable(error.message)})`);
    throw error;
  }
}

/** Text with every character outside printable ASCII replaced by "?", at most 200 characters. */
function printable(text: string): string {
  const shown = text.replace(/[^\x20-\x7e]/g, '?');
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}
