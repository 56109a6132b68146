/**
 * The entries of a snapshot, in walk order, read tree blob by tree blob (two blobs ahead, so the
 * next one loads while the caller works on this one).
 *
 * A tree blob that cannot be loaded or decoded throws, unless `onDamagedTree` is given: then it
 * is reported there (its entries are unknown) and the entries of the other tree blobs still come
 * (restore and repair keep what can be read).
 */
import { decodeTreeBlob, type TreeEntry } from '../format/repo/tree-codec.js';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { Repository } from './repository.js';

const treeBlobsAheadMax = 2;

export type DamagedTreeHandler = (treeId: string, error: Error) => void;

/**
 * `onTreeEnd` is called with a tree blob's id once the caller has taken its last entry (not for
 * one that could not be read).
 */
export async function* snapshotEntries(repository: Repository, snapshot: Snapshot, onDamagedTree?: DamagedTreeHandler, onTreeEnd?: (treeId: string) => void): AsyncGenerator<TreeEntry> {
  const ahead: { treeId: string; loading: Promise<TreeEntry[]> }[] = [];
  let next = 0;
  const load = async (hex: string): Promise<TreeEntry[]> => decodeTreeBlob(await repository.loadBlob(Buffer.from(hex, 'hex')), `tree ${hex.slice(0, 16)}`);
  try {
    while (next < snapshot.trees.length || ahead.length > 0) {
      while (next < snapshot.trees.length && ahead.length < treeBlobsAheadMax) {
        const treeId = snapshot.trees[next++]!;
        const loading = load(treeId);
        loading.catch(() => undefined);
        ahead.push({ treeId, loading });
      }
      const { treeId, loading } = ahead.shift()!;
      let entries: TreeEntry[];
      try {
        entries = await loading;
      } catch (error) {
        if (onDamagedTree === undefined) throw error;
        onDamagedTree(treeId, error as Error);
        continue;
      }
      yield* entries;
      onTreeEnd?.(treeId);
    }
  } finally {
    // Left early: let the loads in flight settle before returning (nothing is left pending).
    await Promise.allSettled(ahead.map((item) => item.loading));
  }
}
