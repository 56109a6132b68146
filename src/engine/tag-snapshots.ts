/**
 * Changing the tags of stored snapshots (`holdfast tag`), as restic's tag: a snapshot file is
 * named by the hash of its bytes, so a snapshot with other tags is a new file. The new snapshot
 * is stored (durable) first and the old file removed after, so a crash in between leaves both —
 * the same snapshot twice, which `forget` can remove — and never neither. The new snapshot
 * records in `original` the id of the snapshot as the backup wrote it (kept across retaggings),
 * so that the history of a snapshot can be followed.
 *
 * A snapshot whose tags would not change is left as it is (its id stays).
 */
import { assert } from '../base/assert.js';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { Repository, SnapshotRecord } from '../repo/repository.js';

export interface TagChange {
  /** Replace every tag with these (mutually exclusive with add/remove). */
  set: readonly string[] | null;
  add: readonly string[];
  remove: readonly string[];
}

export interface RetaggedSnapshot {
  /** The id before the change. */
  previousId: string;
  /** The id after: the new file's, or previousId when nothing changed. */
  id: string;
  tags: string[];
  changed: boolean;
}

/** The tags a snapshot has after `change`: set first, then removed, then added; sorted, once each. */
export function applyTagChange(tags: readonly string[], change: TagChange): string[] {
  assert(change.set === null || (change.add.length === 0 && change.remove.length === 0), 'set excludes add and remove');
  const result = new Set(change.set ?? tags);
  for (const tag of change.remove) result.delete(tag);
  for (const tag of change.add) result.add(tag);
  return [...result].filter((tag) => tag !== '').sort();
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((tag, index) => tag === [...b].sort()[index]);
}

/** Applies `change` to each snapshot: stores the retagged snapshot, then removes the old file. */
export async function retagSnapshots(repository: Repository, records: readonly SnapshotRecord[], change: TagChange): Promise<RetaggedSnapshot[]> {
  const results: RetaggedSnapshot[] = [];
  for (const record of records) {
    const tags = applyTagChange(record.snapshot.tags, change);
    if (sameTags(tags, record.snapshot.tags)) {
      results.push({ previousId: record.id, id: record.id, tags: record.snapshot.tags, changed: false });
      continue;
    }
    const retagged: Snapshot = { ...record.snapshot, tags, original: record.snapshot.original ?? record.id };
    const id = await repository.saveSnapshot(retagged);
    if (id !== record.id) await repository.backend.remove('snapshots', record.id);
    results.push({ previousId: record.id, id, tags, changed: true });
  }
  return results;
}
