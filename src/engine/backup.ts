/**
 * backup: file trees -> a snapshot in a repository (restic's archiver, borg's create).
 *
 * The walk (source/tree-walker.ts) yields each entry with its whole metadata; a regular file's
 * data is cut into content-defined chunks (repo/chunker.ts), each chunk is hashed with the
 * repository's id key and, only when the repository lacks it, sealed on a worker thread and
 * packed (repo/blob-saver.ts). Entries go into tree blobs in walk order (repo/tree-writer.ts).
 * The snapshot is saved last, after its packs and index files are durable (rule D1).
 *
 * Incremental: a file whose device, inode, size, mtime and ctime equal those of the same path
 * in the parent snapshot, and whose chunks are all in the index, is not opened: its entry and
 * chunk list are taken from the parent. ctime changes with any change of content, owner, mode,
 * xattr or ACL, so nothing that changed is missed.
 */
import { displayPath, type FilePath } from '../base/file-path.js';
import type { EntryHeader } from '../format/entry.js';
import { snapshotVersion, type Snapshot, type SnapshotSummary } from '../format/repo/snapshot-codec.js';
import type { ChunkReference, TreeEntry } from '../format/repo/tree-codec.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { FileStat } from '../io/backend.js';
import type { Io } from '../io/io.js';
import { BlobSaver } from '../repo/blob-saver.js';
import { Chunker } from '../repo/chunker.js';
import { adoptUnindexedPacks, indexReusedPacks } from './reused-packs.js';
import { PackWriter } from '../repo/pack-writer.js';
import type { Repository, SnapshotRecord } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';
import { TreeWriter } from '../repo/tree-writer.js';
import type { OwnerNames } from '../source/owner-names.js';
import type { FileBatches } from '../source/file-batches.js';
import type { SourceEntry } from '../source/source-entry.js';
import { walkTrees } from '../source/tree-walker.js';
import { absoluteEntryName } from './snapshot-paths.js';

export interface BackupProgress {
  entries: number;
  files: number;
  filesUnchanged: number;
  /** Raw bytes of file data covered so far (read, or taken unchanged from the parent). */
  dataBytes: number;
  rawBytesAdded: number;
  currentPath: string;
  /** The parent snapshot's data bytes: an estimate of the total, for an ETA; null without a parent. */
  estimatedDataBytes: number | null;
}

export interface BackupOptions {
  /**
   * Runs after every pack and index is stored and before the snapshot is: a backup whose lock
   * was lost (prune may have taken it for gone) throws here and stores no snapshot.
   */
  beforeSnapshot?: () => Promise<void>;
  /** The paths as the user gave them (stored in the snapshot, absolute). */
  paths: readonly string[];
  tags: readonly string[];
  hostname: string;
  username: string;
  ownerNames: OwnerNames;
  /** One lease is held while a file is read. */
  pool: BufferPool;
  /** The snapshot to compare with; null reads every file. */
  parent: SnapshotRecord | null;
  oneFileSystem?: boolean;
  /** Leaves an entry out (and everything below a directory); `path` is where it is on the file system. */
  exclude?: (name: Buffer, stat: FileStat, path: Buffer) => boolean | Promise<boolean>;
  /**
   * Entries to store instead of walking `roots` (a stream given on stdin, see
   * source/stream-entry.ts); `roots` is then ignored and `paths` still names the snapshot's paths.
   */
  source?: AsyncIterable<SourceEntry> | Iterable<SourceEntry>;
  /**
   * Stat names and read small files many at a time (engine/file-batches.ts); only where `io` is
   * the real machine's. Without it every call goes through `io` one at a time.
   */
  fileBatches?: FileBatches;
  /** Do everything but store: count what would be added. */
  dryRun?: boolean;
  /** An entry that could not be read (left out) or changed while read. */
  onProblem: (path: string, error: Error) => void;
  onProgress?: (progress: BackupProgress) => void;
  /**
   * Stops the backup early: checked before each entry and each piece of file data. backup() then
   * rejects with the signal's reason, only after its seals and pack writes in flight have
   * settled; the packs already stored stay (unindexed ones are adopted by the next backup).
   */
  signal?: AbortSignal;
}

export interface BackupResult {
  /** Null for a dry run. */
  snapshotId: string | null;
  snapshot: Snapshot;
}

export async function backup(io: Io, repository: Repository, roots: readonly FilePath[], options: BackupOptions): Promise<BackupResult> {
  const startedMs = Date.now();
  await adoptUnindexedPacks(repository);
  const parentEntries = options.parent === null ? new Map<string, TreeEntry>() : await parentFiles(repository, options.parent);
  const packer = new PackWriter(repository, { dryRun: options.dryRun ?? false });
  const saver = new BlobSaver(repository, packer);
  const trees = new TreeWriter(saver, repository.master.chunkerKey);
  const chunker = new Chunker(repository.master.chunkerKey);
  let problems = 0;
  const progress: BackupProgress = {
    entries: 0,
    files: 0,
    filesUnchanged: 0,
    dataBytes: 0,
    rawBytesAdded: 0,
    currentPath: '',
    estimatedDataBytes: options.parent?.snapshot.summary.dataBytes ?? null,
  };
  const unchanged = (name: Buffer, stat: FileStat): boolean => {
    const previous = parentEntries.get(name.toString('latin1'));
    return previous !== undefined && isUnchanged(previous, stat) && previous.chunks.every((chunk) => packer.has(chunk.id));
  };
  const walk = options.source ?? walkTrees(io, roots, {
    ownerNames: options.ownerNames,
    pool: options.pool,
    ...(options.oneFileSystem === true ? { oneFileSystem: true } : {}),
    ...(options.exclude === undefined ? {} : { exclude: options.exclude }),
    unchanged,
    absoluteNames: true,
    ...(options.fileBatches === undefined ? {} : { batches: options.fileBatches }),
    onProblem: (path, error) => {
      problems++;
      options.onProblem(path, error);
    },
  });
  let treeIds: string[];
  try {
    for await (const entry of walk) {
      options.signal?.throwIfAborted();
      progress.entries++;
      progress.currentPath = displayPath(entry.header.path);
      let treeEntry: TreeEntry;
      if (entry.unchanged === true) {
        const previous = parentEntries.get(entry.header.path.toString('latin1'))!;
        treeEntry = { ...previous, header: { ...previous.header, path: entry.header.path } };
        progress.filesUnchanged++;
        progress.dataBytes += entry.header.sizeBytes;
      } else {
        treeEntry = { header: entry.header, chunks: await storeData(entry, chunker, saver, progress, options), device: entry.identity?.device ?? 0n, inode: entry.identity?.inode ?? 0n };
      }
      if (entry.header.type === 'file') progress.files++;
      progress.rawBytesAdded = saver.counts.rawBytesAdded;
      options.onProgress?.(progress);
      await trees.add(treeEntry);
    }
    treeIds = await trees.finish();
    await saver.drain();
    await packer.finish();
  } catch (error) {
    // Nothing of this backup may still run when it rejects (O3): no seal on a worker, no pack write.
    await saver.settle();
    await packer.settle();
    throw error;
  }
  const summary: SnapshotSummary = {
    entries: progress.entries,
    files: progress.files,
    dataBytes: progress.dataBytes,
    filesUnchanged: progress.filesUnchanged,
    chunksAdded: saver.counts.blobsAdded,
    rawBytesAdded: saver.counts.rawBytesAdded,
    storedBytesAdded: saver.counts.storedBytesAdded,
    problems,
    durationMs: Date.now() - startedMs,
  };
  const snapshot: Snapshot = {
    version: snapshotVersion,
    time: new Date(startedMs).toISOString(),
    hostname: options.hostname,
    username: options.username,
    paths: [...options.paths],
    tags: [...options.tags],
    parent: options.parent?.id ?? null,
    trees: treeIds,
    summary,
  };
  if (options.dryRun === true) return { snapshotId: null, snapshot };
  await options.beforeSnapshot?.();
  await indexReusedPacks(repository, packer.reusedPacks());
  const snapshotId = await repository.saveSnapshot(snapshot);
  return { snapshotId, snapshot };
}

async function storeData(entry: SourceEntry, chunker: Chunker, saver: BlobSaver, progress: BackupProgress, options: BackupOptions): Promise<ChunkReference[]> {
  const chunks: ChunkReference[] = [];
  let dataBytes = 0;
  for await (const piece of entry.data()) {
    options.signal?.throwIfAborted();
    dataBytes += piece.length;
    progress.dataBytes += piece.length;
    for (const chunk of chunker.push(piece)) chunks.push(await saver.save('data', chunk));
    if (dataBytes % (64 * 1024 * 1024) < piece.length) options.onProgress?.(progress);
  }
  const last = chunker.finish();
  if (last !== null) chunks.push(await saver.save('data', last));
  return chunks;
}

/**
 * The parent's regular files by absolute entry name (latin1 of the bytes, so any name is a key);
 * a version 1 parent's names are made absolute, so its files are not read again.
 */
async function parentFiles(repository: Repository, parent: SnapshotRecord): Promise<Map<string, TreeEntry>> {
  const files = new Map<string, TreeEntry>();
  for await (const entry of snapshotEntries(repository, parent.snapshot)) {
    if (entry.header.type === 'file') files.set(absoluteEntryName(parent.snapshot, entry.header.path).toString('latin1'), entry);
  }
  return files;
}

function isUnchanged(previous: TreeEntry, stat: FileStat): boolean {
  const header: EntryHeader = previous.header;
  return previous.device === stat.device && previous.inode === stat.inode && header.sizeBytes === stat.sizeBytes && header.mtimeNs === stat.mtimeNs && header.ctimeNs === stat.ctimeNs;
}
