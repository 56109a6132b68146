/**
 * walkChildren with FileBatches (file-batches.ts): a directory scanned in one job, the scans of
 * its subdirectories started as they are met, and its small regular files read whole, many to a
 * job; the rest the call-by-call way (walk-entry.ts). Entries come out in name order, each given
 * to the walker's `emit` in its turn.
 */
import { displayPath, joinPath } from '../base/file-path.js';
import type { EntryHeader } from '../format/entry.js';
import type { FileStat } from '../io/backend.js';
import { xattrMetadataFrom } from './entry-metadata.js';
import type { BatchedFile, FileBatches, ScannedDirectory, ScannedExtras } from './file-batches.js';
import type { SourceEntry } from './source-entry.js';
import { judge, prefetchEntriesTotalMax, prepare, readEntry, replacedError, type Judged, type Prepared, type WalkState } from './walk-entry.js';

/** Emits a prepared entry, then (for a directory) walks what is below it. */
export type Emit = (state: WalkState, prepared: Prepared) => AsyncGenerator<SourceEntry>;

/** Names whose lstat one batch asks for. */
const lstatBatchNames = 512;
/** Files one read batch takes, and the bytes it may read over all of them. */
const readBatchFiles = 32;
const readBatchBytes = 1024 * 1024;
/** Entries of one directory prepared ahead of their turn when reading in batches (refilled at half). */
export const batchedAheadMax = 128;
/** Bytes of batched files read ahead over all levels of a deep tree. */
const batchedAheadBytesMax = 16 * 1024 * 1024;

/** One entry read ahead in a batched walk; `counted` entries (not from a read batch) count in aheadCount. */
interface Ahead {
  prepared: Promise<Prepared | null>;
  counted: boolean;
  bytes: number;
}

/** The children of one directory, in name order (see the top of this file). */
export async function* walkChildrenInBatches(state: WalkState, batches: FileBatches, path: Buffer, name: Buffer, names: readonly Buffer[], scanned: ScannedDirectory | null, emit: Emit): AsyncGenerator<SourceEntry> {
  const stats = new Map<number, Promise<(FileStat | Error)[]>>();
  const statSlice = (slice: number): Promise<(FileStat | Error)[]> => {
    let pending = stats.get(slice);
    if (pending === undefined && scanned?.stats != null) {
      pending = Promise.resolve(scanned.stats.slice(slice * lstatBatchNames, (slice + 1) * lstatBatchNames));
      stats.set(slice, pending);
    }
    if (pending === undefined) {
      const sliceNames = names.slice(slice * lstatBatchNames, (slice + 1) * lstatBatchNames);
      // A batch that fails as a whole (a worker lost) is not the entries' fault: ask one by one.
      pending = batches.lstat(path, sliceNames).catch(() => Promise.all(sliceNames.map((child) => state.io.lstat(joinPath(path, child)).catch((error: unknown) => error as Error))));
      stats.set(slice, pending);
    }
    return pending;
  };
  const ahead: Ahead[] = [];
  let next = 0;
  const fill = async (): Promise<void> => {
    let batch: ToRead[] = [];
    let batchBytes = 0;
    const startBatch = (): void => {
      if (batch.length === 0) return;
      const reads = batch;
      const job = batches.read(reads.map(({ path: readPath, stat }) => ({ path: readPath, stat }))).catch(() => null);
      for (const [index, read] of reads.entries()) ahead.push({ prepared: job.then((outcomes) => fromBatch(state, read, outcomes?.[index] ?? { kind: 'elsewhere' })), counted: false, bytes: read.stat.sizeBytes });
      batch = [];
      batchBytes = 0;
    };
    while (next < names.length && (ahead.length + batch.length === 0 || (ahead.length + batch.length < batchedAheadMax && state.aheadBytes < batchedAheadBytesMax && state.aheadCount < prefetchEntriesTotalMax))) {
      const index = next++;
      const slice = Math.floor(index / lstatBatchNames);
      if ((slice + 1) * lstatBatchNames < names.length) void statSlice(slice + 1);
      const stat = (await statSlice(slice))[index % lstatBatchNames]!;
      if (index % lstatBatchNames === lstatBatchNames - 1) stats.delete(slice);
      const childPath = joinPath(path, names[index]!);
      const childName = joinPath(name, names[index]!);
      if (stat instanceof Error) {
        state.options.onProblem(displayPath(childPath), stat);
        continue;
      }
      const verdict = state.options.exclude?.(childName, stat, childPath);
      const judged = judge(state, childName, stat, verdict === true || (typeof verdict === 'object' && (await verdict)));
      if (judged === null) continue;
      if (judged.type === 'file' && !judged.unchanged && stat.sizeBytes <= batches.fileBytesMax) {
        if (batch.length === readBatchFiles || batchBytes + stat.sizeBytes > readBatchBytes) startBatch();
        batch.push({ path: childPath, name: childName, header: judged.header, stat });
        batchBytes += stat.sizeBytes;
        state.aheadBytes += stat.sizeBytes;
        continue;
      }
      startBatch();
      // A file read the call-by-call way holds its handle until its turn: those are counted.
      const counted = judged.type === 'file' && !judged.unchanged;
      if (counted) state.aheadCount++;
      const extras = scanned?.extras?.[index] ?? null;
      const known = extras !== null && (judged.type !== 'symlink' || extras.linkTarget !== null);
      ahead.push({ prepared: known ? Promise.resolve(fromScan(state, childPath, childName, stat, judged, extras)) : readEntry(state, childPath, childName, stat, judged), counted, bytes: 0 });
      if (judged.type === 'directory' && (state.options.oneFileSystem !== true || stat.device === state.rootDevice)) prefetchScan(state, batches, childPath);
    }
    startBatch();
  };
  try {
    while (next < names.length || ahead.length > 0) {
      if (ahead.length <= batchedAheadMax / 2 && next < names.length) await fill();
      const first = ahead.shift();
      if (first === undefined) continue;
      const prepared = await first.prepared;
      if (first.counted) state.aheadCount--;
      state.aheadBytes -= first.bytes;
      if (prepared !== null) yield* emit(state, prepared);
    }
  } finally {
    // Left early (the consumer stopped, or an error): close what was read ahead.
    for (const left of ahead.splice(0)) {
      if (left.counted) state.aheadCount--;
      state.aheadBytes -= left.bytes;
      await (await left.prepared)?.handle?.close();
    }
    await Promise.all(stats.values());
  }
}

/** Directory scans started ahead of the walk (a directory's subdirectories, as they are met). */
const scansAheadMax = 8;

function prefetchScan(state: WalkState, batches: FileBatches, path: Buffer): void {
  if (state.scans.size >= scansAheadMax) return;
  const key = path.toString('latin1');
  if (!state.scans.has(key)) state.scans.set(key, scanOrNull(batches, path));
}

/** The scan of `path`: the one started ahead, or a new one; null when it failed (io then asks again). */
export function takeScan(state: WalkState, batches: FileBatches, path: Buffer): Promise<ScannedDirectory | null> {
  const key = path.toString('latin1');
  const started = state.scans.get(key);
  state.scans.delete(key);
  return started ?? scanOrNull(batches, path);
}

function scanOrNull(batches: FileBatches, path: Buffer): Promise<ScannedDirectory | null> {
  return batches.scan(path).catch(() => null);
}

/** A directory's or symlink's entry from what its scan read with its lstat; null when that is unusable (reported). */
function fromScan(state: WalkState, path: Buffer, name: Buffer, stat: FileStat, judged: Judged, extras: ScannedExtras): Prepared | null {
  const { header } = judged;
  if (judged.type === 'symlink') header.linkTarget = extras.linkTarget;
  try {
    Object.assign(header, xattrMetadataFrom(extras.xattrs, path));
  } catch (error) {
    state.options.onProblem(displayPath(path), error as Error);
    return null;
  }
  return { path, name, header, stat, handle: null, unchanged: false };
}

interface ToRead {
  path: Buffer;
  name: Buffer;
  header: EntryHeader;
  stat: FileStat;
}

/** What a read batch made of a file: its entry, null when it failed (reported), or prepare()'s. */
async function fromBatch(state: WalkState, read: ToRead, outcome: BatchedFile): Promise<Prepared | null> {
  const { path, name, header, stat } = read;
  try {
    switch (outcome.kind) {
      case 'read':
        Object.assign(header, xattrMetadataFrom(outcome.xattrs, path));
        return { path, name, header, stat, handle: null, unchanged: false, batched: { data: outcome.data, after: outcome.after } };
      case 'failed':
        throw outcome.error;
      case 'replaced':
        throw replacedError(path);
      case 'elsewhere':
        return await prepare(state, path, name, null);
    }
  } catch (error) {
    state.options.onProblem(displayPath(path), error as Error);
    return null;
  }
}
