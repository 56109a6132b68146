/**
 * What the repository knows of one stored blob: which pack holds it, where, and how large it is
 * stored (sealed) and raw. Shared by the pack header and index codecs.
 */
export type BlobType = 'data' | 'tree';

export const blobTypeCode: Record<BlobType, number> = { data: 1, tree: 2 };

export function blobTypeOf(code: number): BlobType | null {
  return code === 1 ? 'data' : code === 2 ? 'tree' : null;
}

export const blobIdBytes = 32;

export interface PackedBlob {
  type: BlobType;
  id: Buffer;
  offsetBytes: number;
  storedBytes: number;
  rawBytes: number;
}

export const limits = {
  /** A pack is about 16 MiB; its blobs are at least a few bytes each. */
  blobsPerPackMax: 1_000_000,
  /** Chunks are at most 8 MiB raw; tree blobs at most 2 MiB; sealing adds 29 bytes. */
  blobRawBytesMax: 16 * 1024 * 1024,
  packsPerIndexFileMax: 100_000,
} as const;
