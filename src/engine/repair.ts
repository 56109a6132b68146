/**
 * repair: make a damaged repository usable again, keeping everything that can be kept
 * (restic repair index / repair snapshots).
 *
 * repairIndex: the index is rebuilt from the packs themselves. Each pack's header (at its end,
 * sealed: docs/repository-format.md) lists its blobs; new index files name every blob of every
 * pack whose header opens, and only once they are durable are the old index files removed. So a
 * kill at any moment leaves old and new index files side by side, which name the same blobs
 * twice: loading and check accept that (the first location listed wins, and any copy is as good
 * as another). A pack whose header does not open keeps the entries the old index files gave it,
 * where they are readable and fit in the pack; otherwise its blobs are no longer indexed, and
 * the snapshots that need them are then for repairSnapshots.
 *
 * repairSnapshots: every snapshot whose files need a blob no index names, or whose tree blobs
 * cannot be read, is written again without those files (and without hardlinks to them), tagged
 * "repaired", after its new tree blobs are stored and indexed; with `forget` the original is then
 * removed, else both are kept. A blob that is indexed but damaged is not found here: run
 * `check --read-data` to see those (and remove the pack, then repair the index and snapshots).
 */
import { displayPath } from '../base/file-path.js';
import { shownEntryPath } from './snapshot-paths.js';
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { decodeIndex, encodeIndex, type IndexedPack } from '../format/repo/index-codec.js';
import { decodeSnapshot, type Snapshot } from '../format/repo/snapshot-codec.js';
import type { TreeEntry } from '../format/repo/tree-codec.js';
import { BlobSaver } from '../repo/blob-saver.js';
import { loadPackHeader } from '../repo/pack-header.js';
import { PackWriter, packsPerIndexFile } from '../repo/pack-writer.js';
import type { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';
import { TreeWriter } from '../repo/tree-writer.js';

export const repairedTag = 'repaired';

export interface RepairIndexOptions {
  /** A pack whose header cannot be read, or an old index file that cannot be read. */
  onProblem: (subject: string, message: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Runs before anything is removed (a session checks it still holds its lock). */
  beforeRemove?: () => Promise<void>;
}

export interface RepairIndexSummary {
  packs: number;
  /** Packs indexed from their own header. */
  packsRead: number;
  /** Packs whose header did not open but whose blobs the old index files still gave. */
  packsKeptFromOldIndex: number;
  /** Packs whose blobs are no longer indexed: their header did not open and no old entry fit. */
  packsLost: number;
  blobsIndexed: number;
  indexFilesWritten: number;
  indexFilesRemoved: number;
}

export async function repairIndex(repository: Repository, options: RepairIndexOptions): Promise<RepairIndexSummary> {
  const oldFiles = await repository.backend.list('index');
  const packs = await repository.backend.list('data');
  const summary: RepairIndexSummary = { packs: packs.length, packsRead: 0, packsKeptFromOldIndex: 0, packsLost: 0, blobsIndexed: 0, indexFilesWritten: 0, indexFilesRemoved: 0 };
  const written = new Set<string>();
  let group: IndexedPack[] = [];
  const add = async (pack: IndexedPack, flush: boolean): Promise<void> => {
    if (pack.blobs.length > 0) group.push(pack);
    summary.blobsIndexed += pack.blobs.length;
    if (group.length === 0 || (!flush && group.length < packsPerIndexFile)) return;
    written.add(await repository.saveSealed('index', encodeIndex(group)));
    summary.indexFilesWritten++;
    group = [];
  };
  const unreadable = new Map<string, { sizeBytes: number; error: Error }>();
  for (const [done, pack] of packs.entries()) {
    options.onProgress?.(done, packs.length);
    try {
      const blobs = await loadPackHeader(repository, pack.name);
      summary.packsRead++;
      await add({ packId: Buffer.from(pack.name, 'hex'), blobs }, false);
    } catch (error) {
      unreadable.set(pack.name, { sizeBytes: pack.sizeBytes, error: error as Error });
    }
  }
  // Entries of the old index that still fit in a pack whose header is lost are as good as the header's were.
  const salvaged = unreadable.size === 0 ? new Map<string, PackedBlob[]>() : await oldEntriesOf(repository, oldFiles, unreadable, options);
  for (const [name, { error }] of unreadable) {
    const subject = `pack ${name.slice(0, 16)}`;
    const blobs = salvaged.get(name) ?? [];
    if (blobs.length > 0) {
      summary.packsKeptFromOldIndex++;
      options.onProblem(subject, `its header cannot be read (${error.message}); kept the ${blobs.length} blobs the old index gave it`);
      await add({ packId: Buffer.from(name, 'hex'), blobs }, false);
    } else {
      summary.packsLost++;
      options.onProblem(subject, `its header cannot be read, so its blobs are no longer indexed: ${error.message}`);
    }
  }
  await add({ packId: Buffer.alloc(0), blobs: [] }, true);
  // Only now, with every new index file durable, do the old ones go.
  await options.beforeRemove?.();
  for (const file of oldFiles) {
    if (written.has(file.name)) continue;
    await repository.backend.remove('index', file.name);
    summary.indexFilesRemoved++;
  }
  return summary;
}

/**
 * What the old index files that still read say the `wanted` packs hold, where it fits in the
 * pack as it is now. One file at a time; a damaged one is reported and skipped.
 */
async function oldEntriesOf(repository: Repository, files: readonly { name: string }[], wanted: ReadonlyMap<string, { sizeBytes: number }>, options: RepairIndexOptions): Promise<Map<string, PackedBlob[]>> {
  const entries = new Map<string, PackedBlob[]>();
  for (const file of files) {
    try {
      for (const pack of decodeIndex(await repository.loadSealed('index', file.name), `index/${file.name}`)) {
        const name = pack.packId.toString('hex');
        const stored = wanted.get(name);
        if (stored === undefined) continue;
        const known = entries.get(name) ?? [];
        const ids = new Set(known.map((blob) => blob.id.toString('hex')));
        const fitting = pack.blobs.filter((blob) => blob.offsetBytes + blob.storedBytes <= stored.sizeBytes && !ids.has(blob.id.toString('hex')));
        entries.set(name, [...known, ...fitting]);
      }
    } catch (error) {
      options.onProblem(`index ${file.name.slice(0, 16)}`, `cannot be read, so it cannot help: ${(error as Error).message}`);
    }
  }
  return entries;
}

export interface RepairSnapshotsOptions {
  /** Remove each original once its repaired snapshot is stored. */
  forget: boolean;
  /** Say what would be done; store and remove nothing. */
  dryRun: boolean;
  /** A file (or hardlink) the repaired snapshot leaves out. */
  onLeftOut: (snapshotId: string, path: string, reason: string) => void;
  /** A tree blob that cannot be read: its entries are unknown and left out. */
  onDamagedTree: (snapshotId: string, treeId: string, error: Error) => void;
  /** A snapshot file that cannot be read: it is left as it is. */
  onUnreadable: (snapshotId: string, error: Error) => void;
  /** A damaged snapshot and what became of it. */
  onRepaired: (repair: SnapshotRepair) => void;
  /** Runs before anything is stored or removed (a session checks it still holds its lock). */
  beforeChange?: () => Promise<void>;
}

export interface SnapshotRepair {
  id: string;
  /** The repaired snapshot's id; null when nothing readable was left (none is written) or in a dry run. */
  repairedId: string | null;
  entriesLeftOut: number;
  treesUnreadable: number;
  /** Whether the original was (or, in a dry run, would be) removed. */
  forgotten: boolean;
}

export interface RepairSnapshotsSummary {
  snapshots: number;
  snapshotsUnreadable: number;
  snapshotsDamaged: number;
  snapshotsWritten: number;
  snapshotsForgotten: number;
  entriesLeftOut: number;
}

interface PlannedRepair {
  id: string;
  snapshot: Snapshot | null;
  repair: SnapshotRepair;
}

export async function repairSnapshots(repository: Repository, options: RepairSnapshotsOptions): Promise<RepairSnapshotsSummary> {
  const files = await repository.backend.list('snapshots');
  const summary: RepairSnapshotsSummary = { snapshots: files.length, snapshotsUnreadable: 0, snapshotsDamaged: 0, snapshotsWritten: 0, snapshotsForgotten: 0, entriesLeftOut: 0 };
  const packer = new PackWriter(repository, { dryRun: options.dryRun });
  const saver = new BlobSaver(repository, packer);
  const planned: PlannedRepair[] = [];
  for (const file of files) {
    let snapshot: Snapshot;
    try {
      snapshot = decodeSnapshot(await repository.loadSealed('snapshots', file.name), `snapshots/${file.name}`);
    } catch (error) {
      summary.snapshotsUnreadable++;
      options.onUnreadable(file.name, error as Error);
      continue;
    }
    const rewritten = await rewriteSnapshot(repository, saver, file.name, snapshot, options);
    if (rewritten !== null) planned.push(rewritten);
  }
  // Tree blobs and their index are durable before any snapshot names them (rule D1)...
  await saver.drain();
  if (planned.length > 0) await options.beforeChange?.();
  await packer.finish();
  for (const plan of planned) {
    summary.snapshotsDamaged++;
    summary.entriesLeftOut += plan.repair.entriesLeftOut;
    if (plan.snapshot !== null) {
      summary.snapshotsWritten++;
      if (!options.dryRun) plan.repair.repairedId = await repository.saveSnapshot(plan.snapshot);
    }
    // ...and a repaired snapshot is durable before its original goes.
    if (options.forget) {
      if (!options.dryRun) await repository.backend.remove('snapshots', plan.id);
      plan.repair.forgotten = true;
      summary.snapshotsForgotten++;
    }
    options.onRepaired(plan.repair);
  }
  return summary;
}

/**
 * The snapshot written again without what cannot be had, or null when it needs no repair. Its
 * tree blobs go to `saver` (an undamaged stretch of the tree gives the blobs it had, stored once).
 */
async function rewriteSnapshot(repository: Repository, saver: BlobSaver, id: string, snapshot: Snapshot, options: RepairSnapshotsOptions): Promise<PlannedRepair | null> {
  const trees = new TreeWriter(saver, repository.master.chunkerKey);
  const repair: SnapshotRepair = { id, repairedId: null, entriesLeftOut: 0, treesUnreadable: 0, forgotten: false };
  const leftOut = new Set<string>();
  const kept = { entries: 0, files: 0, dataBytes: 0 };
  const onDamagedTree = (treeId: string, error: Error): void => {
    repair.treesUnreadable++;
    options.onDamagedTree(id, treeId, error);
  };
  for await (const entry of snapshotEntries(repository, snapshot, onDamagedTree)) {
    const reason = whyLeftOut(repository, entry, leftOut);
    if (reason !== null) {
      leftOut.add(entry.header.path.toString('latin1'));
      repair.entriesLeftOut++;
      options.onLeftOut(id, shownEntryPath(snapshot, entry.header.path), reason);
      continue;
    }
    kept.entries++;
    if (entry.header.type === 'file') kept.files++;
    for (const chunk of entry.chunks) kept.dataBytes += chunk.rawBytes;
    await trees.add(entry);
  }
  const treeIds = await trees.finish();
  if (repair.entriesLeftOut === 0 && repair.treesUnreadable === 0) return null;
  if (kept.entries === 0) return { id, snapshot: null, repair };
  const repaired: Snapshot = {
    ...snapshot,
    tags: snapshot.tags.includes(repairedTag) ? [...snapshot.tags] : [...snapshot.tags, repairedTag],
    trees: treeIds,
    summary: { ...snapshot.summary, ...kept, problems: snapshot.summary.problems + repair.entriesLeftOut },
  };
  return { id, snapshot: repaired, repair };
}

/** Why an entry cannot be kept: a chunk no index names, or a hardlink to an entry left out. */
function whyLeftOut(repository: Repository, entry: TreeEntry, leftOut: ReadonlySet<string>): string | null {
  const missing = entry.chunks.find((chunk) => !repository.index.has(chunk.id));
  if (missing !== undefined) return `chunk ${missing.id.toString('hex').slice(0, 16)} is missing (no index entry names it)`;
  if (entry.header.type === 'hardlink' && entry.header.linkTarget !== null && leftOut.has(entry.header.linkTarget.toString('latin1'))) {
    return `its target "${displayPath(entry.header.linkTarget)}" is left out`;
  }
  return null;
}
