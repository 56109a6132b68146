/**
 * What check knows of the index, in bounded memory: every index file is read once, one at a time
 * (a few ahead), its bytes checked against its name, opened and decoded, and its blobs added to a
 * BlobTable (16-byte id prefix, pack number, stored size, a "damaged" mark: about 31 bytes a blob)
 * rather than kept whole. Per pack: its name and the bytes its blobs need. Only tree blobs go into
 * the repository's full index, since reading a snapshot's trees needs their offsets and raw sizes;
 * data blobs are only looked up. So 10 million index entries take about 300 MB, not gigabytes.
 *
 * With --read-data the index files are streamed a second time (forEachIndexedPack), so that each
 * pack's blob list is in memory only while that pack is read.
 */
import { isErrorCode } from '../errors/holdfast-error.js';
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { decodeIndex, visitIndex } from '../format/repo/index-codec.js';
import type { StoredFile } from '../repo/backend/backend.js';
import { storageName } from '../repo/blob-id.js';
import { BlobTable } from '../repo/blob-table.js';
import { estimateIndexedBlobs, forEachIndexFile, type IndexFileRead } from '../repo/index-files.js';
import type { Repository } from '../repo/repository.js';

export interface CheckIndex {
  /** Every indexed blob (the first location of each); a mark means "damaged". */
  table: BlobTable;
  /** Pack number -> pack name (64 hex). */
  packNames: string[];
  packNumbers: Map<string, number>;
  /** Pack number -> the bytes its indexed blobs need (the end of the last one). */
  packNeededBytes: number[];
  /** The index files that opened and decoded, in listed order (the second pass reads only these). */
  goodFiles: StoredFile[];
  fileCount: number;
}

export type IndexProblem = (subject: string, message: string) => void;

/** Listings of index/ while files keep vanishing under a prune (as Repository.loadIndex). */
const indexListingRoundsMax = 5;

/**
 * Reads every index file once; a file that fails is reported and left out. `storedPacks` (pack
 * name -> size) marks as damaged, while loading, each blob whose pack is missing or ends before it
 * (the blobs before a short pack's end still read, by their range).
 */
export async function loadCheckIndex(repository: Repository, storedPacks: ReadonlyMap<string, number>, report: IndexProblem): Promise<CheckIndex> {
  let files = await repository.backend.list('index');
  const index: CheckIndex = { table: new BlobTable(estimateIndexedBlobs(files)), packNames: [], packNumbers: new Map(), packNeededBytes: [], goodFiles: [], fileCount: 0 };
  // An index file can vanish between the listing and its reading when a prune running beside
  // us rewrites it; the prune stored its replacement first, so listing again finds that.
  const seen = new Set<string>();
  for (let round = 0; round < indexListingRoundsMax && files.length > 0; round++) {
    let vanished = false;
    await forEachIndexFile(repository.backend, files, (read) => {
      seen.add(read.file.name);
      if ('error' in read && isErrorCode(read.error, 'ENOENT')) {
        vanished = true;
        return;
      }
      index.fileCount++;
      addIndexFile(repository, index, storedPacks, read, report);
    });
    if (!vanished) break;
    files = (await repository.backend.list('index')).filter((file) => !seen.has(file.name));
  }
  return index;
}

/** Adds one index file's blobs to `index`, all or nothing; a file that fails is reported. */
function addIndexFile(repository: Repository, index: CheckIndex, storedPacks: ReadonlyMap<string, number>, read: IndexFileRead, report: IndexProblem): void {
  try {
    if ('error' in read) throw read.error;
    const plaintext = openIndexFile(repository, read.file, read.sealed);
    const fileName = `index/${read.file.name}`;
    // All or nothing: a file that fails adds no blob. The first walk only checks (no allocation
    // per blob); the second keeps what check needs, in the table, without an object per blob.
    visitIndex(plaintext, fileName, { pack: () => undefined, blob: () => undefined });
    let packId = Buffer.alloc(0);
    let packNumber = 0;
    let packBytes = -1;
    visitIndex(plaintext, fileName, {
      pack: (id) => {
        packId = Buffer.from(id);
        const packName = packId.toString('hex');
        packNumber = packNumberOf(index, packName);
        packBytes = storedPacks.get(packName) ?? -1;
      },
      blob: (type, id, offsetBytes, storedBytes, rawBytes) => {
        const entry = index.table.add(id, packNumber, storedBytes);
        // Only the first location counts: it is the one every reader uses.
        if (offsetBytes + storedBytes > packBytes && index.table.packNumber(entry) === packNumber) index.table.mark(entry);
        if (offsetBytes + storedBytes > index.packNeededBytes[packNumber]!) index.packNeededBytes[packNumber] = offsetBytes + storedBytes;
        if (type === 'tree') repository.index.add(type, Buffer.from(id), packId, offsetBytes, storedBytes, rawBytes);
      },
    });
    index.goodFiles.push(read.file);
  } catch (error) {
    // Other verbs leave it out and read the packs' headers instead; repair index mends it.
    report(`index ${read.file.name.slice(0, 16)}`, `${(error as Error).message}; "holdfast repair index" rebuilds the index from the packs`);
  }
}

/** Marks a blob as damaged; an id the table does not hold is left alone (it is reported as missing). */
export function markBlob(index: CheckIndex, id: Uint8Array): void {
  const entry = index.table.find(id);
  if (entry >= 0) index.table.mark(entry);
}

/** What check says of a chunk a file needs: null when it is there and not known damaged. */
export function chunkState(index: CheckIndex, id: Uint8Array): 'missing' | 'damaged' | null {
  const entry = index.table.find(id);
  if (entry < 0) return 'missing';
  return index.table.isMarked(entry) ? 'damaged' : null;
}

/**
 * Streams the good index files again and calls `consume` with each pack record's name and blobs,
 * in index order (a pack split over several files comes once per file). The blobs are the caller's
 * until it returns; only one file's records are held at a time. A file gone since the first pass
 * (a prune beside check rewrote the index) is skipped: its packs are then among those no index
 * names, which the caller looks at on their own.
 */
export async function forEachIndexedPack(repository: Repository, index: CheckIndex, consume: (packName: string, blobs: PackedBlob[]) => Promise<void>): Promise<void> {
  await forEachIndexFile(repository.backend, index.goodFiles, async (read) => {
    // Rewritten by a prune since the first pass: its replacement names the same needed packs.
    if ('error' in read && isErrorCode(read.error, 'ENOENT')) return;
    if ('error' in read) throw read.error;
    for (const pack of decodeIndex(openIndexFile(repository, read.file, read.sealed), `index/${read.file.name}`)) await consume(pack.packId.toString('hex'), pack.blobs);
  });
}

/** The plaintext of an index file whose bytes hash to its name. */
function openIndexFile(repository: Repository, file: StoredFile, sealed: Buffer): Buffer {
  if (storageName(sealed) !== file.name) throw new Error('its bytes do not hash to its name');
  return repository.openSealed('index', file.name, sealed);
}

function packNumberOf(index: CheckIndex, name: string): number {
  let number = index.packNumbers.get(name);
  if (number === undefined) {
    number = index.packNames.length;
    index.packNames.push(name);
    index.packNumbers.set(name, number);
    index.packNeededBytes.push(0);
  }
  return number;
}
