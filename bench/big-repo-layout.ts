/**
 * What the synthetic repository of bench/make-big-repo.ts holds, as pure functions, so that the
 * builder, its worker and the test that checks a restore agree on it byte for byte.
 *
 * - Blob i (0 <= i < blobCount) is 16 bytes: u64 little-endian i, then "HFBIGREP". Unique, so every
 *   blob is one index entry; too short for zstd to be worth it, so stored as 45 bytes.
 * - Snapshot 0 uses the blobs with i % 5 in {0, 1, 2}, snapshot 1 those with i % 5 in {2, 3, 4}:
 *   60% each, 20% shared, and every pack holds blobs of both. Forgetting one snapshot leaves every
 *   pack partly used (60%), which is what prune must repack.
 * - A snapshot's blobs, in increasing order, make its files, `chunksPerFile` chunks each (the last
 *   file maybe fewer), under big/d<directory>/f<file>, `filesPerDirectory` files a directory.
 */
export const bigBlobBytes = 16;
const blobMarker = Buffer.from('HFBIGREP', 'latin1');
export const snapshotResidues: readonly (readonly number[])[] = [
  [0, 1, 2],
  [2, 3, 4],
];
const residueModulus = 5;
export const filesPerDirectory = 1000;
export const bigRootName = 'big';

export function bigBlobPlaintext(index: number): Buffer {
  // A buffer of its own: the real writer moves plaintexts to worker threads.
  const plaintext = Buffer.from(new ArrayBuffer(bigBlobBytes));
  plaintext.writeBigUInt64LE(BigInt(index), 0);
  blobMarker.copy(plaintext, 8);
  return plaintext;
}

export function snapshotUsesBlob(snapshot: number, index: number): boolean {
  return snapshotResidues[snapshot]!.includes(index % residueModulus);
}

export interface BigFile {
  /** Relative path, e.g. big/d00001/f00001234. */
  path: string;
  fileNumber: number;
  blobIndexes: number[];
}

export function directoryName(fileNumber: number): string {
  return `${bigRootName}/d${String(Math.floor(fileNumber / filesPerDirectory)).padStart(5, '0')}`;
}

/** The files of a snapshot, in order; each file's blobs in order. */
export function* snapshotFiles(snapshot: number, blobCount: number, chunksPerFile: number): Generator<BigFile> {
  let blobIndexes: number[] = [];
  let fileNumber = 0;
  const file = (): BigFile => ({ path: `${directoryName(fileNumber)}/f${String(fileNumber).padStart(8, '0')}`, fileNumber, blobIndexes });
  for (let index = 0; index < blobCount; index++) {
    if (!snapshotUsesBlob(snapshot, index)) continue;
    blobIndexes.push(index);
    if (blobIndexes.length === chunksPerFile) {
      yield file();
      fileNumber++;
      blobIndexes = [];
    }
  }
  if (blobIndexes.length > 0) yield file();
}
