/**
 * check: is the repository whole? (restic check, borg check --verify-data)
 *
 * Structure, always: every index file opens and decodes; every pack an index names exists with
 * the size its blobs need; every snapshot opens, every tree blob of it loads (authenticated and
 * hashed to its id), and every chunk its files name is in the index.
 * Data, with readData: every pack (or a random `readDataPercent` of them) is read whole, its
 * name checked against the hash of its bytes, its header opened, and every blob opened and
 * hashed to its id on the worker threads. A damaged blob is then traced to the snapshots and
 * files that need it, so the report says what would be lost.
 */
import { randomInt } from 'node:crypto';
import { displayPath } from '../base/file-path.js';
import { decodeIndex } from '../format/repo/index-codec.js';
import { decodePackHeader } from '../format/repo/pack-codec.js';
import { decodeSnapshot } from '../format/repo/snapshot-codec.js';
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { storageName } from '../repo/blob-id.js';
import { packHeaderAssociatedData } from '../repo/pack-writer.js';
import type { Repository } from '../repo/repository.js';
import { open } from '../repo/seal.js';
import { snapshotEntries } from '../repo/tree-reader.js';

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
  problems: number;
  /** Packs that no index names (left by an interrupted backup); not damage. */
  unreferencedPacks: number;
  damagedSnapshots: string[];
  damagedFiles: DamagedFile[];
}

const damagedFilesListedMax = 10_000;

export async function checkRepository(repository: Repository, options: CheckOptions): Promise<CheckSummary> {
  const summary: CheckSummary = { indexFiles: 0, packs: 0, packsRead: 0, blobsRead: 0, snapshots: 0, problems: 0, unreferencedPacks: 0, damagedSnapshots: [], damagedFiles: [] };
  const report = (subject: string, message: string): void => {
    summary.problems++;
    options.onProblem({ subject, message });
  };
  const expectedPacks = await loadIndexes(repository, summary, report);
  const stored = new Map((await repository.backend.list('data')).map((file) => [file.name, file.sizeBytes]));
  summary.packs = stored.size;
  const badBlobs = new Set<string>();
  for (const [name, blobs] of expectedPacks) {
    const sizeBytes = stored.get(name);
    const needed = blobs.reduce((end, blob) => Math.max(end, blob.offsetBytes + blob.storedBytes), 0);
    if (sizeBytes === undefined) report(`pack ${name.slice(0, 16)}`, 'is missing');
    else if (sizeBytes < needed + 4) report(`pack ${name.slice(0, 16)}`, `has ${sizeBytes} bytes; its blobs need more than ${needed}`);
    else continue;
    for (const blob of blobs) badBlobs.add(blob.id.toString('hex'));
  }
  // A pack no index names is what a backup killed before its index leaves (rule D1 allows it):
  // counted, not a problem. The next backup stores those blobs again; prune will remove it.
  for (const name of stored.keys()) if (!expectedPacks.has(name)) summary.unreferencedPacks++;
  if (options.readData) await readPacks(repository, expectedPacks, stored, options, summary, report, badBlobs);
  await checkSnapshots(repository, summary, report, badBlobs, options);
  return summary;
}

type Report = (subject: string, message: string) => void;

/** Loads every index file into the repository's index; returns the blobs each pack should hold. */
async function loadIndexes(repository: Repository, summary: CheckSummary, report: Report): Promise<Map<string, PackedBlob[]>> {
  const packs = new Map<string, PackedBlob[]>();
  for (const file of await repository.backend.list('index')) {
    summary.indexFiles++;
    try {
      const sealed = await repository.backend.load('index', file.name);
      if (storageName(sealed) !== file.name) throw new Error('its bytes do not hash to its name');
      for (const pack of decodeIndex(repository.openSealed('index', file.name, sealed), `index/${file.name}`)) {
        const name = pack.packId.toString('hex');
        packs.set(name, [...(packs.get(name) ?? []), ...pack.blobs]);
        for (const blob of pack.blobs) repository.index.add(blob.type, blob.id, pack.packId, blob.offsetBytes, blob.storedBytes, blob.rawBytes);
      }
    } catch (error) {
      report(`index ${file.name.slice(0, 16)}`, (error as Error).message);
    }
  }
  return packs;
}

async function readPacks(repository: Repository, expected: Map<string, PackedBlob[]>, stored: Map<string, number>, options: CheckOptions, summary: CheckSummary, report: Report, badBlobs: Set<string>): Promise<void> {
  let names = [...stored.keys()];
  const percent = options.readDataPercent ?? 100;
  if (percent < 100) names = names.filter(() => randomInt(10_000) < percent * 100);
  for (const name of names) {
    options.onProgress?.('read packs', summary.packsRead, names.length);
    const subject = `pack ${name.slice(0, 16)}`;
    const blobs = expected.get(name) ?? [];
    try {
      const bytes = await repository.backend.load('data', name);
      summary.packsRead++;
      if (storageName(bytes) !== name) report(subject, 'its bytes do not hash to its name (damaged)');
      const fromHeader = readPackHeader(repository, bytes, name);
      if (fromHeader === null) report(subject, 'its header does not open (damaged)');
      const results = await Promise.allSettled(
        blobs.map(async (blob) => {
          const storedBytes = Buffer.from(bytes.subarray(blob.offsetBytes, blob.offsetBytes + blob.storedBytes));
          await repository.openStoredBlob(blob.id, storedBytes, blob.rawBytes, `${subject} blob ${blob.id.toString('hex').slice(0, 16)}`);
        }),
      );
      results.forEach((result, index) => {
        summary.blobsRead++;
        if (result.status === 'rejected') {
          const blob = blobs[index]!;
          badBlobs.add(blob.id.toString('hex'));
          report(`${subject} blob ${blob.id.toString('hex').slice(0, 16)}`, (result.reason as Error).message);
        }
      });
    } catch (error) {
      report(subject, (error as Error).message);
      for (const blob of blobs) badBlobs.add(blob.id.toString('hex'));
    }
  }
}

function readPackHeader(repository: Repository, bytes: Buffer, name: string): PackedBlob[] | null {
  try {
    const headerBytes = bytes.readUInt32LE(bytes.length - 4);
    if (headerBytes > bytes.length - 4) return null;
    const start = bytes.length - 4 - headerBytes;
    const plain = open(repository.master.encryptionKey, bytes.subarray(start, bytes.length - 4), packHeaderAssociatedData, { operation: 'read pack header of', path: name });
    return decodePackHeader(plain, start, name);
  } catch {
    return null;
  }
}

async function checkSnapshots(repository: Repository, summary: CheckSummary, report: Report, badBlobs: Set<string>, options: CheckOptions): Promise<void> {
  const files = await repository.backend.list('snapshots');
  const damaged = new Set<string>();
  for (const file of files) {
    summary.snapshots++;
    options.onProgress?.('check snapshots', summary.snapshots - 1, files.length);
    const subject = `snapshot ${file.name.slice(0, 8)}`;
    let snapshot;
    try {
      const sealed = await repository.backend.load('snapshots', file.name);
      if (storageName(sealed) !== file.name) throw new Error('its bytes do not hash to its name');
      snapshot = decodeSnapshot(repository.openSealed('snapshots', file.name, sealed), `snapshots/${file.name}`);
    } catch (error) {
      report(subject, (error as Error).message);
      damaged.add(file.name);
      continue;
    }
    try {
      for await (const entry of snapshotEntries(repository, snapshot)) {
        const missing = entry.chunks.find((chunk) => badBlobs.has(chunk.id.toString('hex')) || !repository.index.has(chunk.id));
        if (missing === undefined) continue;
        damaged.add(file.name);
        if (summary.damagedFiles.length < damagedFilesListedMax) summary.damagedFiles.push({ snapshotId: file.name, path: displayPath(entry.header.path) });
        const why = repository.index.has(missing.id) ? 'is damaged' : 'is missing';
        report(subject, `file "${displayPath(entry.header.path)}": chunk ${missing.id.toString('hex').slice(0, 16)} ${why}`);
      }
    } catch (error) {
      damaged.add(file.name);
      report(subject, `its tree cannot be read: ${(error as Error).message}`);
    }
  }
  summary.damagedSnapshots = [...damaged];
}
