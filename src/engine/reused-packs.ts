/**
 * Before a backup saves its snapshot: are the packs it reused still indexed?
 *
 * A prune running beside a backup rewrites the index without the packs it is about to delete
 * (docs/concurrency.md); it waits for the backup before deleting them, and indexes again any pack
 * a new snapshot needs. If that prune was killed in between, a pack this backup deduplicated
 * against could be left stored but unindexed, and the snapshot would name blobs no index finds.
 * So the backup looks: when an index file it loaded is gone, it reads the current index's pack
 * list and indexes again, from the pack's own header, each reused pack no longer named.
 *
 * The same header reading lets a backup reuse the packs of a backup that was killed before it
 * wrote its index (docs/concurrency.md, "Crashes").
 */
import { holdfastError, isErrorCode } from '../errors/holdfast-error.js';
import type { PackedBlob } from '../format/repo/blob-entry.js';
import { encodeIndex, visitIndex, type IndexedPack } from '../format/repo/index-codec.js';
import { listLocks } from '../repo/lock.js';
import { loadPackHeader } from '../repo/pack-header.js';
import type { Repository } from '../repo/repository.js';

/**
 * Adds to the in-memory index the blobs of packs that no index file names (a backup killed
 * before it wrote its index leaves them; so does a prune killed before it deleted them), read
 * from each pack's own header, so this backup reuses what is already stored instead of storing
 * it again. Nothing is written here: indexReusedPacks() indexes, before the snapshot, the
 * adopted packs this backup does reuse. Returns how many packs were adopted.
 */
export async function adoptUnindexedPacks(repository: Repository): Promise<number> {
  // Packs no index names may be a running prune's, about to be deleted: leave them alone then.
  // (This backup's lock is already written, so a prune that starts after this look waits for it.)
  if ((await listLocks(repository)).some((lock) => !lock.stale && lock.record.mode !== 'shared')) return 0;
  let adopted = 0;
  for (const pack of await repository.backend.list('data')) {
    if (repository.index.hasPack(pack.name)) continue;
    let blobs: PackedBlob[];
    try {
      blobs = await loadPackHeader(repository, pack.name);
    } catch {
      // Gone meanwhile (a prune), or unreadable: nothing to reuse there.
      continue;
    }
    const packId = Buffer.from(pack.name, 'hex');
    for (const blob of blobs) repository.index.add(blob.type, blob.id, packId, blob.offsetBytes, blob.storedBytes, blob.rawBytes);
    repository.adoptedPacks.add(pack.name);
    adopted++;
  }
  return adopted;
}

/**
 * Makes sure every pack this backup reused is named by an index file: the adopted ones, and,
 * when an index file it loaded is gone (a prune rewrote it), any that the index no longer names.
 * Returns how many packs it indexed.
 */
export async function indexReusedPacks(repository: Repository, reusedPacks: readonly string[]): Promise<number> {
  if (reusedPacks.length === 0) return 0;
  const current = await repository.backend.list('index');
  const currentNames = new Set(current.map((file) => file.name));
  const indexChanged = ![...repository.loadedIndexFiles].every((name) => currentNames.has(name));
  let lost = reusedPacks.filter((name) => repository.adoptedPacks.has(name));
  if (indexChanged) {
    const indexed = new Set<string>();
    for (const file of current) {
      let plaintext: Buffer;
      try {
        plaintext = await repository.loadSealed('index', file.name);
      } catch (error) {
        if (isErrorCode(error, 'ENOENT')) continue;
        throw error;
      }
      visitIndex(plaintext, `index/${file.name}`, { pack: (packId) => void indexed.add(packId.toString('hex')), blob: () => undefined });
    }
    lost = reusedPacks.filter((name) => !indexed.has(name));
  }
  const again: IndexedPack[] = [];
  for (const name of lost) {
    try {
      again.push({ packId: Buffer.from(name, 'hex'), blobs: await loadPackHeader(repository, name) });
    } catch (error) {
      if (!isErrorCode(error, 'ENOENT')) throw error;
      throw holdfastError('HOLDFAST_MISSING', { operation: 'save snapshot', path: `pack ${name.slice(0, 16)}` }, 'a pack this backup reuses was deleted (by a prune that did not see this backup\'s lock); no snapshot was saved: run the backup again');
    }
  }
  if (again.length > 0) await repository.saveSealed('index', encodeIndex(again));
  return again.length;
}
