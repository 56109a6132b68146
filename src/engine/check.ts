/**
 * check: is the repository whole? (restic check, borg check --verify-data)
 *
 * Structure, always: every index file opens and decodes; every pack an index names exists with
 * the size its blobs need; every pack's header is read from its end, authenticated and compared
 * with the index (check-pack-headers.ts; one that does not read is named with the snapshots that
 * need the pack); every snapshot opens, every tree blob of it loads (authenticated and hashed to
 * its id), and every chunk its files name is in the index; every key file hashes to its name and
 * parses (a missing key file cannot be told from a removed one).
 * Data, with readData: every pack (or a random `readDataPercent` of them) is read whole, its
 * name checked against the hash of its bytes, and every blob opened and hashed to its id on the
 * worker threads (a flipped byte inside a blob shows only here). A damaged blob is then traced
 * to the snapshots and files that need it, so the report says what would be lost.
 */
import { randomInt } from 'node:crypto';
import { isErrorCode } from '../errors/holdfast-error.js';
import { chunkState, forEachIndexedPack, loadCheckIndex, markBlob, type CheckIndex } from './check-index.js';
import { checkPackHeaders, type UnreadableHeader } from './check-pack-headers.js';
import { decodeSnapshot } from '../format/repo/snapshot-codec.js';
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { storageName } from '../repo/blob-id.js';
import { readKeyFileSummary } from '../repo/key-file.js';
import { openTogether } from '../repo/open-together.js';
import type { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';
import { shownEntryPath } from './snapshot-paths.js';

export interface CheckProblem {
  /** What is damaged: "pack 3fa1...", "index 9c2e...", "snapshot 77aa...". */
  subject: string;
  message: string;
}

export interface DamagedFile {
  snapshotId: string;
  path: string;
}

export interface CheckOptions {
  readData: boolean;
  /** With readData: read this share of the packs (1..100), chosen at random. */
  readDataPercent?: number;
  onProblem: (problem: CheckProblem) => void;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface CheckSummary {
  indexFiles: number;
  packs: number;
  packsRead: number;
  blobsRead: number;
  snapshots: number;
  keyFiles: number;
  problems: number;
  /** Packs that no index names (left by an interrupted backup); not damage. */
  unreferencedPacks: number;
  damagedSnapshots: string[];
  damagedFiles: DamagedFile[];
}

const damagedFilesListedMax = 10_000;
/** Blobs of one pack being opened on the workers at a time (the pool queues them). */
const blobsOpenedAtOnceMax = 256;
/** Neighbouring blobs opened by one worker job, and how far apart they may lie. */
const blobsPerJobMax = 32;
const gapBytesMax = 64 * 1024;

export async function checkRepository(repository: Repository, options: CheckOptions): Promise<CheckSummary> {
  const summary: CheckSummary = { indexFiles: 0, packs: 0, packsRead: 0, blobsRead: 0, snapshots: 0, keyFiles: 0, problems: 0, unreferencedPacks: 0, damagedSnapshots: [], damagedFiles: [] };
  const report = (subject: string, message: string): void => {
    summary.problems++;
    options.onProblem({ subject, message });
  };
  const stored = new Map((await repository.backend.list('data')).map((file) => [file.name, file.sizeBytes]));
  summary.packs = stored.size;
  // The index in bounded memory (check-index.ts): a BlobTable whose marks mean "damaged"; blobs
  // of a missing pack, or past a short pack's end, are marked while it loads.
  const index = await loadCheckIndex(repository, stored, report);
  summary.indexFiles = index.fileCount;
  index.packNames.forEach((name, packNumber) => {
    const sizeBytes = stored.get(name);
    const needed = index.packNeededBytes[packNumber]!;
    if (sizeBytes === undefined) report(`pack ${name.slice(0, 16)}`, 'is missing');
    else if (sizeBytes < needed + 4) report(`pack ${name.slice(0, 16)}`, `has ${sizeBytes} bytes; its blobs need more than ${needed}`);
  });
  // A pack no index names is what a backup killed before its index leaves (rule D1 allows it):
  // counted, not a problem. The next backup stores those blobs again; prune will remove it.
  for (const name of stored.keys()) if (!index.packNumbers.has(name)) summary.unreferencedPacks++;
  const unreadableHeaders = await checkPackHeaders(repository, index, stored, report, (done, total) => options.onProgress?.('check pack headers', done, total));
  if (options.readData) await readPacks(repository, index, stored, options, summary, report);
  await checkKeys(repository, summary, report);
  const needing = new Map(unreadableHeaders.filter((pack) => pack.packNumber >= 0).map((pack) => [pack.packNumber, new Set<string>()]));
  await checkSnapshots(repository, summary, report, index, options, needing);
  for (const pack of unreadableHeaders) reportUnreadableHeader(pack, needing.get(pack.packNumber), report);
  return summary;
}

/** Names a pack whose header does not read, and the snapshots that need a blob of it. */
function reportUnreadableHeader(pack: UnreadableHeader, snapshots: ReadonlySet<string> | undefined, report: Report): void {
  const subject = `pack ${pack.packName.slice(0, 16)}`;
  if (snapshots === undefined) {
    report(subject, `its header cannot be read (${pack.message}) and no index names it: its blobs cannot be used (damaged)`);
    return;
  }
  const needed = snapshots.size === 0 ? 'no snapshot needs it' : `snapshots that need it: ${[...snapshots].map((id) => id.slice(0, 8)).join(', ')}`;
  report(subject, `its header cannot be read (${pack.message}), so "holdfast repair index" cannot index its blobs again (damaged); ${needed}`);
}

type Report = (subject: string, message: string) => void;

/**
 * Reads every pack (or a random share): in the order the index names them, with each pack's blob
 * list from a second pass over the index files (so only one file's lists are held), then the
 * packs no index names. A blob that does not open is marked damaged in the table.
 */
async function readPacks(repository: Repository, index: CheckIndex, stored: Map<string, number>, options: CheckOptions, summary: CheckSummary, report: Report): Promise<void> {
  let names = [...stored.keys()];
  const percent = options.readDataPercent ?? 100;
  if (percent < 100) names = names.filter(() => randomInt(10_000) < percent * 100);
  const selected = new Set(names);
  const readOnce = new Set<string>();
  const read = async (name: string, blobs: PackedBlob[]): Promise<void> => {
    options.onProgress?.('read packs', readOnce.size, names.length);
    const subject = `pack ${name.slice(0, 16)}`;
    try {
      const bytes = await repository.backend.load('data', name);
      if (!readOnce.has(name)) summary.packsRead++;
      readOnce.add(name);
      if (storageName(bytes) !== name) report(subject, 'its bytes do not hash to its name (damaged)');
      // Its header was read and compared already (check-pack-headers.ts).
      // In slices: a pack of 100,000 tiny blobs must not be 100,000 jobs (and copies) at once.
      for (let first = 0; first < blobs.length; first += blobsOpenedAtOnceMax) {
        const slice = blobs.slice(first, first + blobsOpenedAtOnceMax);
        const failures = await Promise.all(neighbourGroups(slice).map((group) => openGroup(repository, name, bytes, group)));
        for (const [blob, error] of failures.flat()) {
          markBlob(index, blob.id);
          report(`${subject} blob ${blob.id.toString('hex').slice(0, 16)}`, error.message);
        }
        summary.blobsRead += slice.length;
      }
    } catch (error) {
      readOnce.add(name);
      report(subject, (error as Error).message);
      for (const blob of blobs) markBlob(index, blob.id);
    }
  };
  await forEachIndexedPack(repository, index, async (name, blobs) => {
    if (selected.has(name)) await read(name, blobs);
  });
  for (const name of names) if (!index.packNumbers.has(name)) await read(name, []);
}

/** Blobs by offset, in runs of neighbours (at most 32 blobs, at most 64 KiB apart): one job each. */
function neighbourGroups(blobs: readonly PackedBlob[]): PackedBlob[][] {
  const groups: PackedBlob[][] = [];
  let end = -1;
  for (const blob of [...blobs].sort((left, right) => left.offsetBytes - right.offsetBytes)) {
    const group = groups.at(-1);
    if (group === undefined || group.length >= blobsPerJobMax || blob.offsetBytes - end > gapBytesMax) groups.push([blob]);
    else group.push(blob);
    end = Math.max(end, blob.offsetBytes + blob.storedBytes);
  }
  return groups;
}

/**
 * Opens a group of a pack's blobs in one worker job; when one does not open, each again alone,
 * to name exactly those that do not. The blobs that failed, with their errors.
 */
async function openGroup(repository: Repository, packName: string, bytes: Buffer, group: readonly PackedBlob[]): Promise<[PackedBlob, Error][]> {
  const start = group[0]!.offsetBytes;
  const end = Math.max(...group.map((blob) => blob.offsetBytes + blob.storedBytes));
  try {
    await openTogether(repository, packName, Buffer.from(bytes.subarray(start, end)), start, group);
    return [];
  } catch {
    const subject = `pack ${packName.slice(0, 16)}`;
    const outcomes = await Promise.all(
      group.map(async (blob): Promise<[PackedBlob, Error] | null> => {
        try {
          const storedBytes = Buffer.from(bytes.subarray(blob.offsetBytes, blob.offsetBytes + blob.storedBytes));
          await repository.openStoredBlob(blob.id, storedBytes, blob.rawBytes, `${subject} blob ${blob.id.toString('hex').slice(0, 16)}`);
          return null;
        } catch (error) {
          return [blob, error as Error];
        }
      }),
    );
    return outcomes.filter((outcome) => outcome !== null);
  }
}

/**
 * Every key file: its bytes hash to its name, and it parses as a key file (the password is not
 * tried: that would cost a derivation per key). A damaged key damages no snapshot, but the
 * password it holds may no longer open the repository.
 */
async function checkKeys(repository: Repository, summary: CheckSummary, report: Report): Promise<void> {
  for (const file of await repository.backend.list('keys')) {
    let bytes: Buffer;
    try {
      bytes = await repository.backend.load('keys', file.name);
    } catch (error) {
      // Removed (key remove beside us) between the listing and the reading: not damage.
      if (isErrorCode(error, 'ENOENT')) continue;
      summary.keyFiles++;
      report(`key ${file.name.slice(0, 16)}`, (error as Error).message);
      continue;
    }
    summary.keyFiles++;
    try {
      if (storageName(bytes) !== file.name) throw new Error('its bytes do not hash to its name (damaged)');
      readKeyFileSummary(bytes, { path: `keys/${file.name}` });
    } catch (error) {
      report(`key ${file.name.slice(0, 16)}`, (error as Error).message);
    }
  }
}

/**
 * `needing`: pack number -> the snapshots found to need a blob of that pack (a tree or a chunk);
 * filled in for the packs given (the ones whose header does not read).
 */
async function checkSnapshots(repository: Repository, summary: CheckSummary, report: Report, index: CheckIndex, options: CheckOptions, needing: ReadonlyMap<number, Set<string>>): Promise<void> {
  const noteNeeded = (snapshotId: string, ids: Iterable<Uint8Array>): void => {
    if (needing.size === 0) return;
    for (const id of ids) {
      const entry = index.table.find(id);
      if (entry >= 0) needing.get(index.table.packNumber(entry))?.add(snapshotId);
    }
  };
  const files = await repository.backend.list('snapshots');
  const damaged = new Set<string>();
  // Tree blobs whose every chunk was found: another snapshot that holds the same blob (an
  // unchanged part of the tree) need not decode it again. Not kept while packs are traced to the
  // snapshots that need them (`needing`): every snapshot must then be traced whole.
  const tracedClean = new Set<string>();
  for (const file of files) {
    options.onProgress?.('check snapshots', summary.snapshots, files.length);
    const subject = `snapshot ${file.name.slice(0, 8)}`;
    let snapshot;
    try {
      const sealed = await repository.backend.load('snapshots', file.name);
      if (storageName(sealed) !== file.name) throw new Error('its bytes do not hash to its name');
      snapshot = decodeSnapshot(repository.openSealed('snapshots', file.name, sealed), `snapshots/${file.name}`);
    } catch (error) {
      // Forgotten (by a forget beside us) between the listing and the reading: not damage.
      if (isErrorCode(error, 'ENOENT')) continue;
      summary.snapshots++;
      report(subject, (error as Error).message);
      damaged.add(file.name);
      continue;
    }
    summary.snapshots++;
    noteNeeded(file.name, snapshot.trees.map((treeId) => Buffer.from(treeId, 'hex')));
    try {
      // A damaged tree blob is reported and the files of the other tree blobs are still traced.
      const onDamagedTree = (treeId: string, error: Error): void => {
        damaged.add(file.name);
        report(subject, `tree ${treeId.slice(0, 16)} cannot be read (its entries are unknown): ${error.message}`);
      };
      const trees = needing.size > 0 ? snapshot.trees : snapshot.trees.filter((treeId) => !tracedClean.has(treeId));
      let treeDamaged = false;
      const onTreeEnd = (treeId: string): void => {
        if (!treeDamaged && needing.size === 0) tracedClean.add(treeId);
        treeDamaged = false;
      };
      for await (const entry of snapshotEntries(repository, { ...snapshot, trees }, onDamagedTree, onTreeEnd)) {
        if (needing.size > 0) noteNeeded(file.name, entry.chunks.map((chunk) => chunk.id));
        let why: 'missing' | 'damaged' | null = null;
        const missing = entry.chunks.find((chunk) => (why = chunkState(index, chunk.id)) !== null);
        if (missing === undefined) continue;
        treeDamaged = true;
        damaged.add(file.name);
        const shown = shownEntryPath(snapshot, entry.header.path);
        if (summary.damagedFiles.length < damagedFilesListedMax) summary.damagedFiles.push({ snapshotId: file.name, path: shown });
        report(subject, `file "${shown}": chunk ${missing.id.toString('hex').slice(0, 16)} is ${why ?? 'damaged'}`);
      }
    } catch (error) {
      damaged.add(file.name);
      report(subject, `its tree cannot be read: ${(error as Error).message}`);
    }
  }
  summary.damagedSnapshots = [...damaged];
}
