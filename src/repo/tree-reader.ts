/**
 * The entries of a snapshot, in walk order, read tree blob by tree blob (two blobs ahead, so the
 * next one loads while the caller works on this one).
 */
import { decodeTreeBlob, type TreeEntry } from '../format/repo/tree-codec.js';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { Repository } from './repository.js';

const treeBlobsAheadMax = 2;

export async function* snapshotEntries(repository: Repository, snapshot: Snapshot): AsyncGenerator<TreeEntry> {
  const ahead: Promise<TreeEntry[]>[] = [];
  let next = 0;
  const load = async (hex: string): Promise<TreeEntry[]> => decodeTreeBlob(await repository.loadBlob(Buffer.from(hex, 'hex')), `tree ${hex.slice(0, 16)}`);
  try {
    while (next < snapshot.trees.length || ahead.length > 0) {
      while (next < snapshot.trees.length && ahead.length < treeBlobsAheadMax) {
        const loading = load(snapshot.trees[next++]!);
        loading.catch(() => undefined);
        ahead.push(loading);
      }
      yield* await ahead.shift()!;
    }
  } finally {
    // Left early: let the loads in flight settle before returning (nothing is left pending).
    await Promise.allSettled(ahead);
  }
}
