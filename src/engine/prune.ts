/**
 * prune: give back the space of blobs no snapshot needs, beside running backups
 * (docs/concurrency.md).
 *
 *  1. Under a `prune` lock (it excludes another prune and repair, never a backup), read every
 *     index file into a BlobTable (about 31 bytes a blob) and mark every blob a snapshot needs.
 *  2. Plan: a pack whose blobs are all needed stays; one with none is dropped; one with more than
 *     `repackUnusedPercent` unneeded (or a small pack, when there are several) is repacked: its
 *     needed blobs are copied, still sealed, into new packs. Packs no index names are dropped too.
 *  3. Store the new packs and their index, then rewrite each index file that names a dropped or
 *     repacked pack without it (new file durable before the old one goes). From here on, no
 *     newly started operation can find the dropped packs.
 *  4. Wait for every operation that held a lock when the index was rewritten: they may have read
 *     the old index and refer to an unneeded blob (a backup deduplicating against it).
 *  5. Look at what happened meanwhile: packs indexed by backups that ran beside us are kept, and
 *     a pack holding an unneeded blob that a new snapshot uses is indexed again.
 *  6. Delete the dropped packs. If the wait of step 4 timed out, they are left, unindexed, for a
 *     later prune: nothing is lost and `check` counts them as unreferenced, not damaged.
 *
 * A kill at any step leaves a repository check accepts: packs are only deleted once no index
 * names them, and every index names only packs that are stored.
 */
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { encodeIndex, filterIndex, visitIndex, type IndexedPack } from '../format/repo/index-codec.js';
import { estimateIndexedBlobs, forEachIndexFile } from '../repo/index-files.js';
import { decodeSnapshot, type Snapshot } from '../format/repo/snapshot-codec.js';
import { BlobTable } from '../repo/blob-table.js';
import { listLocks, waitForLocks, type RepositoryLock } from '../repo/lock.js';
import { loadPackHeader, openPackHeader } from '../repo/pack-header.js';
import { PackWriter, indexBlobsPerFileMax, packBytesTarget } from '../repo/pack-writer.js';
import type { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';

export interface PruneOptions {
  dryRun: boolean;
  /** Repack a pack when more than this share of its bytes is unneeded (0..100). Default 10. */
  repackUnusedPercent?: number;
  /** How long to wait for operations that began before the index was rewritten. Default 10 min. */
  waitForOperationsMs?: number;
  /** The session's lock, checked before anything is deleted. */
  lock: RepositoryLock | null;
  onProgress?: (stage: string, done: number, total: number) => void;
  onNote?: (message: string) => void;
  /**
   * Stops the prune early, between two units of work (an index file read, a pack repacked, an
   * index file rewritten, a pack deleted) and in the wait for older operations; each unit leaves
   * the repository whole, so what is not done yet is left for a later prune.
   */
  signal?: AbortSignal;
}

export interface PrunePlan {
  snapshots: number;
  packs: number;
  blobs: number;
  usedBlobs: number;
  usedBytes: number;
  unusedBytes: number;
  /** Packs with no needed blob, and packs no index names. */
  dropPacks: number;
  dropBytes: number;
  unreferencedPacks: number;
  repackPacks: number;
  /** Needed bytes copied out of repacked packs. */
  repackBytes: number;
  /** Bytes given back once the dropped and repacked packs are deleted (the copies aside). */
  freedBytes: number;
}

export interface PruneSummary extends PrunePlan {
  deletedPacks: number;
  /** Packs left unindexed for a later prune, because older operations were still running. */
  packsLeftForLater: number;
  /** Packs indexed again because a snapshot written beside the prune uses them. */
  rescuedPacks: number;
  indexFilesRewritten: number;
  newPacks: number;
}

interface PackState {
  name: string;
  /** From the data/ listing; -1 when an index names it but it is not stored. */
  fileBytes: number;
  usedBytes: number;
  unusedBytes: number;
  indexed: boolean;
}

const smallPackBytes = packBytesTarget / 4;

export async function pruneRepository(repository: Repository, options: PruneOptions): Promise<PruneSummary> {
  const progress = (stage: string, done: number, total: number): void => {
    options.signal?.throwIfAborted();
    options.onProgress?.(stage, done, total);
  };
  // Step 1: what is there and what is needed.
  const snapshotsAtStart = await readSnapshots(repository);
  const indexListing = await repository.backend.list('index');
  const indexFiles = indexListing.map((file) => file.name);
  const packs: PackState[] = [];
  const packNumbers = new Map<string, number>();
  const table = new BlobTable();
  table.reserve(estimateIndexedBlobs(indexListing));
  const packNumberOf = (name: string): number => {
    let number = packNumbers.get(name);
    if (number === undefined) {
      number = packs.length;
      packNumbers.set(name, number);
      packs.push({ name, fileBytes: -1, usedBytes: 0, unusedBytes: 0, indexed: false });
    }
    return number;
  };
  /** Which packs each index file names: step 3 rewrites the files that name a doomed one. */
  const packsOfFile = new Map<string, number[]>();
  /** Adds an index file's blobs to the table (and its tree blobs to the repository's index). */
  const learnIndexFile = (name: string, plaintext: Buffer, onPack: (number: number) => void): void => {
    const numbers: number[] = [];
    let number = 0;
    let packId = Buffer.alloc(0);
    visitIndex(plaintext, `index/${name}`, {
      pack: (id) => {
        packId = Buffer.from(id);
        number = packNumberOf(packId.toString('hex'));
        numbers.push(number);
        onPack(number);
      },
      blob: (type, id, offsetBytes, storedBytes, rawBytes) => {
        table.add(id, number, storedBytes);
        // Tree blobs are loaded to learn what snapshots need: keep their whole location.
        if (type === 'tree') repository.index.add('tree', Buffer.from(id), packId, offsetBytes, storedBytes, rawBytes);
      },
    });
    packsOfFile.set(name, numbers);
  };
  let indexDone = 0;
  await forEachIndexFile(repository.backend, indexListing, (read) => {
    if ('error' in read) throw read.error;
    learnIndexFile(read.file.name, repository.openSealed('index', read.file.name, read.sealed), (number) => {
      packs[number]!.indexed = true;
    });
    progress('read index', ++indexDone, indexListing.length);
  });
  for (const file of await repository.backend.list('data')) packs[packNumberOf(file.name)]!.fileBytes = file.sizeBytes;
  // Packs no index names: left by a killed backup, or by a prune killed after it rewrote the
  // index. Their headers say what they hold, so a needed blob found only there is kept.
  const unreferenced = new Map<number, PackedBlob[]>();
  for (const [number, pack] of packs.entries()) {
    if (pack.indexed || pack.fileBytes < 0) continue;
    try {
      const blobs = await loadPackHeader(repository, pack.name);
      unreferenced.set(number, blobs);
      for (const blob of blobs) {
        table.add(blob.id, number, blob.storedBytes);
        if (blob.type === 'tree') repository.index.add('tree', blob.id, Buffer.from(pack.name, 'hex'), blob.offsetBytes, blob.storedBytes, blob.rawBytes);
      }
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) continue;
      // An unreadable pack that no index names holds nothing anyone can use: it is dropped.
      options.onNote?.(`pack ${pack.name.slice(0, 16)} is named by no index and its header cannot be read (${(error as Error).message}); it is dropped`);
    }
  }

  let marked = 0;
  for (const record of snapshotsAtStart) {
    await markSnapshot(repository, table, record.id, record.snapshot, () => undefined);
    progress('mark used blobs', ++marked, snapshotsAtStart.length);
  }

  // A needed blob that only an unreferenced pack holds: index that pack again (not in a dry run).
  const reindex: IndexedPack[] = [];
  for (const [number, blobs] of unreferenced) {
    const needed = blobs.some((blob) => {
      const entry = table.find(blob.id);
      return table.isMarked(entry) && table.packNumber(entry) === number;
    });
    if (!needed) continue;
    packs[number]!.indexed = true;
    reindex.push({ packId: Buffer.from(packs[number]!.name, 'hex'), blobs });
  }
  if (reindex.length > 0) {
    options.onNote?.(`${reindex.length} packs that no index named hold blobs snapshots need; ${options.dryRun ? 'they would be' : 'they are'} indexed again`);
    if (!options.dryRun) {
      const name = await repository.saveSealed('index', encodeIndex(reindex));
      indexFiles.push(name);
      packsOfFile.set(name, reindex.map((pack) => packNumbers.get(pack.packId.toString('hex'))!));
    }
  }

  // Step 2: the plan. Usage per pack from a second pass over the index files (the table keeps
  // one location per blob: a second copy elsewhere counts as unneeded where it is).
  let usedBlobs = 0;
  await forEachIndexFile(repository.backend, await repository.backend.list('index').then((files) => files.filter((file) => packsOfFile.has(file.name))), (read) => {
    if ('error' in read) throw read.error;
    let number = 0;
    visitIndex(repository.openSealed('index', read.file.name, read.sealed), `index/${read.file.name}`, {
      pack: (id) => {
        number = packNumbers.get(id.toString('hex'))!;
      },
      blob: (_type, id, _offsetBytes, storedBytes) => {
        const entry = table.find(id);
        if (table.isMarked(entry) && table.packNumber(entry) === number) {
          packs[number]!.usedBytes += storedBytes;
          usedBlobs++;
        } else {
          packs[number]!.unusedBytes += storedBytes;
        }
      },
    });
  });
  const missing = packs.filter((pack) => pack.indexed && pack.fileBytes < 0 && pack.usedBytes > 0);
  if (missing.length > 0) {
    throw holdfastError('HOLDFAST_MISSING', { operation: 'prune', path: repository.backend.location }, `${missing.length} pack${missing.length === 1 ? '' : 's'} holding needed blobs ${missing.length === 1 ? 'is' : 'are'} missing (${missing.slice(0, 3).map((pack) => pack.name.slice(0, 16)).join(', ')}); nothing was deleted; run "holdfast check", then "holdfast repair index" and "holdfast repair snapshots"`);
  }
  const threshold = (options.repackUnusedPercent ?? 10) / 100;
  const drop = new Set<number>();
  const repack = new Set<number>();
  const smallUsed: number[] = [];
  packs.forEach((pack, number) => {
    if (pack.fileBytes < 0) return;
    if (!pack.indexed || pack.usedBytes === 0) drop.add(number);
    else if (pack.unusedBytes > threshold * (pack.usedBytes + pack.unusedBytes)) repack.add(number);
    else if (pack.fileBytes < smallPackBytes) smallUsed.push(number);
  });
  // Small packs (the last pack of each backup) are combined once there are several.
  if (smallUsed.length + [...repack].filter((number) => packs[number]!.fileBytes < smallPackBytes).length > 1) for (const number of smallUsed) repack.add(number);

  const plan: PrunePlan = {
    snapshots: snapshotsAtStart.length,
    packs: packs.filter((pack) => pack.fileBytes >= 0).length,
    blobs: table.count,
    usedBlobs,
    usedBytes: sum(packs, (pack) => pack.usedBytes),
    unusedBytes: sum(packs, (pack) => pack.unusedBytes),
    dropPacks: drop.size,
    dropBytes: sum([...drop], (number) => packs[number]!.fileBytes),
    unreferencedPacks: packs.filter((pack) => !pack.indexed && pack.fileBytes >= 0).length,
    repackPacks: repack.size,
    repackBytes: sum([...repack], (number) => packs[number]!.usedBytes),
    freedBytes: sum([...drop, ...repack], (number) => packs[number]!.fileBytes) - sum([...repack], (number) => packs[number]!.usedBytes),
  };
  const summary: PruneSummary = { ...plan, deletedPacks: 0, packsLeftForLater: 0, rescuedPacks: 0, indexFilesRewritten: 0, newPacks: 0 };
  if (options.dryRun || (drop.size === 0 && repack.size === 0)) return summary;

  // Step 3: copy the needed blobs of repacked packs, then rewrite the index without the doomed packs.
  const packer = new PackWriter(repository, { rememberBlobs: false });
  let repacked = 0;
  try {
    for (const number of repack) {
      const pack = packs[number]!;
      const bytes = await repository.backend.load('data', pack.name);
      for (const blob of openPackHeader(repository, bytes, `pack ${pack.name}`)) {
        const entry = table.find(blob.id);
        if (entry < 0 || !table.isMarked(entry) || table.packNumber(entry) !== number) continue;
        await packer.add(blob.type, blob.id, Buffer.from(bytes.subarray(blob.offsetBytes, blob.offsetBytes + blob.storedBytes)), blob.rawBytes);
      }
      progress('repack', ++repacked, repack.size);
    }
    await packer.finish();
  } catch (error) {
    // No pack write outlives the prune (its copies, unindexed, are garbage for a later prune).
    await packer.settle();
    throw error;
  }
  summary.newPacks = packer.summary.packs;

  const doomed = new Set([...drop, ...repack]);
  const keepPack = (packId: Buffer): boolean => {
    const number = packNumbers.get(packId.toString('hex'))!;
    return !doomed.has(number) && packs[number]!.fileBytes >= 0;
  };
  let rewritten = 0;
  for (const name of indexFiles) {
    if (packsOfFile.get(name)!.every((number) => !doomed.has(number) && packs[number]!.fileBytes >= 0)) continue;
    for (const file of filterIndex(await repository.loadSealed('index', name), keepPack, indexBlobsPerFileMax)) await repository.saveSealed('index', file);
    await removeIfThere(repository, 'index', name);
    summary.indexFilesRewritten++;
    progress('rewrite index', ++rewritten, indexFiles.length);
  }

  // Step 4: outlast every operation that may have read the old index.
  const ownId = options.lock?.id;
  const waitFor = new Set((await listLocks(repository)).filter((lock) => !lock.stale && lock.record.id !== ownId).map((lock) => lock.record.id));
  if (waitFor.size > 0) options.onNote?.(`waiting for ${waitFor.size} operation${waitFor.size === 1 ? '' : 's'} that began before the index was rewritten`);
  const outlasted = await waitForLocks(repository, waitFor, { timeoutMs: options.waitForOperationsMs ?? 10 * 60 * 1000, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  if (!outlasted) {
    summary.packsLeftForLater = doomed.size;
    options.onNote?.(`${doomed.size} packs are left, unindexed, for a later prune: operations that began before this prune are still running`);
    return summary;
  }

  // Step 5: keep what others indexed or used meanwhile.
  const seenIndexFiles = new Set(indexFiles);
  const newIndexFiles = (await repository.backend.list('index')).filter((file) => !seenIndexFiles.has(file.name));
  await forEachIndexFile(repository.backend, newIndexFiles, (read) => {
    if ('error' in read) {
      if (isErrorCode(read.error, 'ENOENT')) return;
      throw read.error;
    }
    // Indexed meanwhile by someone else (a backup beside us indexed its new pack, or indexed
    // again a pack it reused): the pack stays, or that index would name a lost pack. Our own
    // rewritten files name only kept packs.
    learnIndexFile(read.file.name, repository.openSealed('index', read.file.name, read.sealed), (number) => {
      if (doomed.delete(number)) summary.rescuedPacks++;
    });
  });
  const seenSnapshots = new Set(snapshotsAtStart.map((record) => record.id));
  const rescue = new Set<number>();
  for (const record of await readSnapshots(repository)) {
    if (seenSnapshots.has(record.id)) continue;
    await markSnapshot(repository, table, record.id, record.snapshot, (entry) => {
      const number = table.packNumber(entry);
      if (doomed.has(number)) rescue.add(number);
    });
  }
  const rescuedIndex: IndexedPack[] = [];
  for (const number of rescue) {
    const pack = packs[number]!;
    rescuedIndex.push({ packId: Buffer.from(pack.name, 'hex'), blobs: await loadPackHeader(repository, pack.name) });
    doomed.delete(number);
  }
  if (rescuedIndex.length > 0) await repository.saveSealed('index', encodeIndex(rescuedIndex));
  summary.rescuedPacks += rescue.size;

  // Step 6: delete.
  await options.lock?.assertHeld('delete unneeded packs');
  let deleted = 0;
  for (const number of doomed) {
    await removeIfThere(repository, 'data', packs[number]!.name);
    progress('delete packs', ++deleted, doomed.size);
  }
  summary.deletedPacks = deleted;
  return summary;
}

/**
 * Marks the blobs a snapshot needs: its tree blobs and every chunk they name. A tree already
 * marked was read for another snapshot, and so were the chunks under it. `onNewlyMarked` sees
 * each entry this call marks.
 */
async function markSnapshot(repository: Repository, table: BlobTable, id: string, snapshot: Snapshot, onNewlyMarked: (entry: number) => void): Promise<void> {
  const unread: string[] = [];
  const markId = (blobId: Buffer, what: string): boolean => {
    const entry = table.find(blobId);
    if (entry < 0) {
      throw holdfastError('HOLDFAST_MISSING', { operation: 'prune', path: `snapshot ${id.slice(0, 16)}` }, `it needs ${what} ${blobId.toString('hex').slice(0, 16)}, which no index names; nothing was deleted; run "holdfast check" and "holdfast repair"`);
    }
    if (table.isMarked(entry)) return false;
    table.mark(entry);
    onNewlyMarked(entry);
    return true;
  };
  for (const tree of snapshot.trees) if (markId(Buffer.from(tree, 'hex'), 'tree blob')) unread.push(tree);
  if (unread.length === 0) return;
  for await (const entry of snapshotEntries(repository, { ...snapshot, trees: unread })) {
    for (const chunk of entry.chunks) markId(chunk.id, 'chunk');
  }
}

/** Every snapshot; one removed (by forget) between the listing and its reading is skipped. */
async function readSnapshots(repository: Repository): Promise<{ id: string; snapshot: Snapshot }[]> {
  const records: { id: string; snapshot: Snapshot }[] = [];
  for (const file of await repository.backend.list('snapshots')) {
    try {
      records.push({ id: file.name, snapshot: decodeSnapshot(await repository.loadSealed('snapshots', file.name), `snapshots/${file.name}`) });
    } catch (error) {
      if (!isErrorCode(error, 'ENOENT')) throw error;
    }
  }
  return records;
}

async function removeIfThere(repository: Repository, kind: 'data' | 'index', name: string): Promise<void> {
  try {
    await repository.backend.remove(kind, name);
  } catch (error) {
    if (!isErrorCode(error, 'ENOENT')) throw error;
  }
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += value(item);
  return total;
}

