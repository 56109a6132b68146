/**
 * restore: a snapshot (or a part of it) -> a directory, through the same Restorer that `import`
 * uses, so a restore puts back everything `import` does: data with its holes, owners, modes,
 * ACLs, xattrs, links, special files and nanosecond times, and nothing outside the target.
 *
 * Regular files are written by `fileWritersMax` restorers at once (each file by one of them), so
 * the system calls of small files overlap, and each writer's small files of one directory are
 * created in batches on the worker threads (restore-batches.ts); each writer loads its chunks
 * ahead, up to `chunksAheadMax` (read from their pack, and opened on a worker thread in groups),
 * so decryption, decompression and hashing overlap with writing. Directories, links and special
 * files go through one restorer, which sets the directories' modes and times last.
 *
 * A damaged snapshot restores as much as it can: a file whose chunks are missing (no index entry)
 * is not begun, a file whose chunk fails to load or open is removed again, and both are reported
 * through onNotRestored while every other file is restored; a tree blob that cannot be read is
 * reported through onDamagedTree (the entries it held are unknown) and the others are restored.
 * Without those callbacks the first such failure throws.
 */
import { displayPath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { ChunkReference, TreeEntry } from '../format/repo/tree-codec.js';
import type { BufferPool } from '../io/buffer-pool.js';
import type { Io } from '../io/io.js';
import { loadBlobs } from '../repo/open-together.js';
import type { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';
import { Restorer, type RestoreOptions, type RestoreSummary } from '../streams/restorer.js';

/** Files written at once: enough to overlap their system calls, few enough to keep writes sequential-ish. */
export const fileWritersMax = 4;
/** Chunks loaded ahead of each writer, and their bytes (at least one chunk, whatever its size). */
export const chunksAheadMax = 64;
const chunkBytesAheadMax = 16 * 1024 * 1024;
/** Chunks opened by one worker job, and their bytes. */
const groupChunksMax = 32;
const groupBytesMax = 1024 * 1024;
/** Files in a row that go to one writer. */
const writerRunFiles = 64;

export interface RestoreProgress {
  entries: number;
  entriesTotal: number;
  dataBytes: number;
  dataBytesTotal: number;
  currentPath: string;
}

export interface SnapshotRestoreOptions extends RestoreOptions {
  /** Two leases are held: file data and writes. */
  pool: BufferPool;
  /** Restore only this entry and what is below it; its parent directories are left out. */
  subPath: Buffer | null;
  /** Keep an entry (by its name in the snapshot): include and exclude rules. */
  select?: (name: string, isDirectory: boolean) => 'include' | 'exclude' | 'default';
  onProgress?: (progress: RestoreProgress) => void;
  /** An entry left out because its data cannot be had; without it, that failure throws. */
  onNotRestored?: (path: string, reason: string, error: Error) => void;
  /** A tree blob that cannot be read: its entries are unknown; without it, that failure throws. */
  onDamagedTree?: (treeId: string, error: Error) => void;
  /**
   * Stops the restore early, before the next entry: the entry being written is abandoned like
   * one whose chunk cannot be read, and the restore rejects with the signal's reason instead
   * of leaving out every entry after it.
   */
  signal?: AbortSignal;
}

export interface SnapshotRestoreSummary extends RestoreSummary {
  entriesSelected: number;
  /** Entries left out because a chunk of theirs is missing or damaged. */
  entriesNotRestored: number;
  /** Tree blobs that could not be read (their entries are unknown, so not counted anywhere else). */
  treesUnreadable: number;
}

/** What the writers of one restore share: where chunks come from and what was left out. */
interface RestoreContext {
  repository: Repository;
  progress: RestoreProgress;
  options: SnapshotRestoreOptions;
  notRestored: number;
}

export async function restoreSnapshot(io: Io, repository: Repository, snapshot: Snapshot, target: Buffer, options: SnapshotRestoreOptions): Promise<SnapshotRestoreSummary> {
  let treesUnreadable = 0;
  const onDamagedTree =
    options.onDamagedTree === undefined
      ? undefined
      : (treeId: string, error: Error): void => {
          treesUnreadable++;
          options.onDamagedTree!(treeId, error);
        };
  const entries = await selectEntries(repository, snapshot, options, onDamagedTree);
  const progress: RestoreProgress = { entries: 0, entriesTotal: entries.length, dataBytes: 0, dataBytesTotal: 0, currentPath: '' };
  for (const entry of entries) for (const chunk of entry.chunks) progress.dataBytesTotal += chunk.rawBytes;
  const shared = { restoredNonDirectories: new Set<string>() };
  const main = new Restorer(io, target, options.pool, options, shared);
  const files = entries.filter((entry) => entry.header.type === 'file');
  const links = entries.filter((entry) => entry.header.type === 'hardlink');
  const others = entries.filter((entry) => entry.header.type !== 'file' && entry.header.type !== 'hardlink');
  const writers = Array.from({ length: Math.min(fileWritersMax, Math.max(1, files.length)) }, () => new Restorer(io, target, options.pool, options, shared));
  const context: RestoreContext = { repository, progress, options, notRestored: 0 };
  const summaries: RestoreSummary[] = [];
  let failure: unknown = null;
  try {
    // Directories (their modes and times wait for the end), symlinks and special files first, in
    // order; then regular files, spread over several writers; then hardlinks, whose targets now exist.
    await restoreInOrder(main, others, new ChunkLoader(repository, others), context);
    // allSettled: every writer has stopped before any restorer is finished, even after a failure.
    const written = await Promise.allSettled(
      writers.map((writer, index) => {
        // Runs of neighbours, not every fourth file: a writer's small files of one directory
        // are created together (restore-batches.ts).
        const share = files.filter((_, fileIndex) => Math.floor(fileIndex / writerRunFiles) % writers.length === index);
        return restoreInOrder(writer, share, new ChunkLoader(repository, share), context).then(() => writer.createWaiting());
      }),
    );
    const failed = written.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await restoreInOrder(main, links, new ChunkLoader(repository, links), context);
  } catch (error) {
    failure = error;
  }
  for (const writer of writers) summaries.push(await writer.finish());
  summaries.push(await main.finish());
  if (failure !== null) throw failure;
  const summary: SnapshotRestoreSummary = { entriesRestored: 0, entriesRefused: 0, dataBytes: 0, warnings: 0, entriesSelected: entries.length, entriesNotRestored: context.notRestored, treesUnreadable };
  for (const part of summaries) {
    summary.entriesRestored += part.entriesRestored;
    summary.entriesRefused += part.entriesRefused;
    summary.dataBytes += part.dataBytes;
    summary.warnings += part.warnings;
  }
  return summary;
}

/** Restores `entries` in their order through one restorer, with their chunks loaded ahead. */
async function restoreInOrder(restorer: Restorer, entries: TreeEntry[], loader: ChunkLoader, context: RestoreContext): Promise<void> {
  const { progress, options } = context;
  try {
    for (const entry of entries) {
      options.signal?.throwIfAborted();
      const path = displayPath(entry.header.path);
      progress.currentPath = path;
      // A chunk no index names: the file is not begun at all.
      const unindexed = entry.chunks.find((chunk) => !context.repository.index.has(chunk.id));
      if (unindexed !== undefined) {
        loader.skip(entry.chunks.length);
        leaveOut(context, path, `chunk ${unindexed.id.toString('hex').slice(0, 16)} is missing (no index entry names it)`, holdfastError('HOLDFAST_MISSING', { operation: 'restore', path }, `chunk ${unindexed.id.toString('hex').slice(0, 16)} is missing`));
        continue;
      }
      await restorer.beginEntry(entry.header);
      let failed = false;
      for (let index = 0; index < entry.chunks.length; index++) {
        let plaintext: Buffer;
        try {
          plaintext = await loader.next();
        } catch (error) {
          // A chunk that does not load or open: the file begun is removed, not left half-written.
          loader.skip(entry.chunks.length - index - 1);
          await restorer.abandonEntry();
          // Stopped (the pool refuses jobs once aborted): not a damaged chunk.
          if (options.signal?.aborted === true) throw error;
          leaveOut(context, path, `chunk ${entry.chunks[index]!.id.toString('hex').slice(0, 16)} cannot be read: ${(error as Error).message}`, error as Error);
          failed = true;
          break;
        }
        progress.dataBytes += plaintext.length;
        await restorer.writeData(plaintext);
      }
      if (failed) continue;
      await restorer.endEntry();
      progress.entries++;
      options.onProgress?.(progress);
    }
  } finally {
    await loader.close();
  }
}

/** An entry whose data cannot be had is reported and left out; without a handler it stops the restore. */
function leaveOut(context: RestoreContext, path: string, reason: string, error: Error): void {
  if (context.options.onNotRestored === undefined) throw error;
  context.notRestored++;
  context.options.onNotRestored(path, reason, error);
}

/**
 * The entries to restore, renamed for a sub-path (restoring "home/ann/docs" creates "docs"
 * under the target), with include and exclude rules applied: an excluded directory takes what
 * is below it along; an included entry brings its parent directories.
 */
async function selectEntries(repository: Repository, snapshot: Snapshot, options: SnapshotRestoreOptions, onDamagedTree: ((treeId: string, error: Error) => void) | undefined): Promise<TreeEntry[]> {
  const subPath = options.subPath;
  const cut = subPath === null ? 0 : subPath.lastIndexOf(0x2f) + 1;
  const selected: TreeEntry[] = [];
  const excludedDirectories: string[] = [];
  let includeRules = false;
  const included = new Set<number>();
  for await (const entry of snapshotEntries(repository, snapshot, onDamagedTree)) {
    const path = entry.header.path;
    if (subPath !== null && !(path.equals(subPath) || (path.length > subPath.length && path[subPath.length] === 0x2f && path.subarray(0, subPath.length).equals(subPath)))) continue;
    const name = displayPath(path);
    if (excludedDirectories.some((directory) => name.startsWith(`${directory}/`))) continue;
    const verdict = options.select?.(name, entry.header.type === 'directory') ?? 'default';
    if (verdict === 'exclude') {
      if (entry.header.type === 'directory') excludedDirectories.push(name);
      continue;
    }
    if (verdict === 'include') {
      includeRules = true;
      included.add(selected.length);
    }
    const renamed = cut === 0 ? entry : { ...entry, header: { ...entry.header, path: path.subarray(cut) } };
    if (renamed.header.type === 'hardlink' && renamed.header.linkTarget !== null && cut > 0) {
      renamed.header = { ...renamed.header, linkTarget: renamed.header.linkTarget.subarray(cut) };
    }
    selected.push(renamed);
  }
  if (subPath !== null && selected.length === 0) {
    throw holdfastError('HOLDFAST_MISSING', { operation: 'restore', path: displayPath(subPath) }, 'the snapshot has no entry of that name');
  }
  return includeRules ? withIncludedOnly(selected, included) : selected;
}

/** Entries an include rule named, what is below them, and the directories above them. */
function withIncludedOnly(entries: TreeEntry[], included: Set<number>): TreeEntry[] {
  const keptNames = new Set<string>();
  const includedDirectories: string[] = [];
  for (const index of included) {
    const entry = entries[index]!;
    const name = entry.header.path.toString('latin1');
    if (entry.header.type === 'directory') includedDirectories.push(name);
    const parts = name.split('/');
    for (let length = 1; length <= parts.length; length++) keptNames.add(parts.slice(0, length).join('/'));
  }
  return entries.filter((entry) => {
    const name = entry.header.path.toString('latin1');
    return keptNames.has(name) || includedDirectories.some((directory) => name.startsWith(`${directory}/`));
  });
}

/**
 * Loads the chunks of `entries` in order, up to chunksAheadMax (and chunkBytesAheadMax) ahead of
 * the consumer, in groups whose blobs are opened by one worker job (open-together.ts); it
 * tops up only once half of what is ahead was taken, so that groups stay large.
 */
class ChunkLoader {
  readonly #repository: Repository;
  readonly #entries: TreeEntry[];
  #entryIndex = 0;
  #chunkIndex = 0;
  readonly #ahead: { loading: Promise<Buffer>; rawBytes: number }[] = [];
  #aheadBytes = 0;
  /** Loads of skipped chunks still in flight: settled at close(). */
  readonly #skipped: Promise<Buffer>[] = [];

  constructor(repository: Repository, entries: TreeEntry[]) {
    this.#repository = repository;
    this.#entries = entries;
    this.#fill();
  }

  async next(): Promise<Buffer> {
    const first = this.#ahead.shift();
    if (first === undefined) throw holdfastError('HOLDFAST_MISSING', { operation: 'restore', path: 'chunk list' }, 'more chunks were asked for than the entries hold');
    this.#aheadBytes -= first.rawBytes;
    if (this.#ahead.length <= chunksAheadMax / 2) this.#fill();
    return first.loading;
  }

  /**
   * Drops the next `count` chunks (the rest of an entry that is left out). Those not queued yet
   * all belong to the entry at the fill position, so it moves past them.
   */
  skip(count: number): void {
    const queued = this.#ahead.splice(0, count);
    for (const { loading, rawBytes } of queued) {
      this.#skipped.push(loading);
      this.#aheadBytes -= rawBytes;
    }
    this.#chunkIndex += count - queued.length;
    this.#fill();
  }

  /** Lets every load in flight settle, so nothing is left running. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#ahead.splice(0).map((ahead) => ahead.loading), ...this.#skipped.splice(0)]);
  }

  #fill(): void {
    while (this.#ahead.length < chunksAheadMax && (this.#ahead.length === 0 || this.#aheadBytes < chunkBytesAheadMax)) {
      const group: ChunkReference[] = [];
      let groupBytes = 0;
      while (group.length < groupChunksMax && groupBytes < groupBytesMax && this.#ahead.length + group.length < chunksAheadMax) {
        const chunk = this.#nextChunk();
        if (chunk === null) break;
        group.push(chunk);
        groupBytes += chunk.rawBytes;
      }
      if (group.length === 0) return;
      const loads = group.length === 1 ? [this.#repository.loadBlob(group[0]!.id)] : loadBlobs(this.#repository, group.map((chunk) => chunk.id));
      for (const [index, loading] of loads.entries()) {
        loading.catch(() => undefined);
        this.#ahead.push({ loading, rawBytes: group[index]!.rawBytes });
      }
      this.#aheadBytes += groupBytes;
    }
  }

  #nextChunk(): ChunkReference | null {
    while (this.#entryIndex < this.#entries.length) {
      const entry = this.#entries[this.#entryIndex]!;
      if (this.#chunkIndex < entry.chunks.length) return entry.chunks[this.#chunkIndex++]!;
      this.#entryIndex++;
      this.#chunkIndex = 0;
    }
    return null;
  }
}
