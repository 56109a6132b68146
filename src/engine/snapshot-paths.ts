/**
 * How paths outside a snapshot meet the names inside it: a path as it was backed up
 * ("/srv/data/sub") as the snapshot names its entry ("data/sub", from a root's own name), and the
 * snapshot a new backup of some paths compares with (its parent).
 */
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { SnapshotRecord } from '../repo/repository.js';

/**
 * The path as the snapshot names entries ("data/sub"), or null for the whole snapshot. A path
 * under one of the snapshot's roots is taken from that root's own name; any other path is taken
 * as an entry name already (leading "/" removed).
 */
export function entryPathIn(snapshot: Pick<Snapshot, 'paths'>, path: string | null): Buffer | null {
  if (path === null) return null;
  const trimmed = path.replace(/\/+$/, '');
  for (const root of snapshot.paths) {
    if (trimmed === root || trimmed.startsWith(`${root}/`)) {
      const rootName = root.slice(root.lastIndexOf('/') + 1);
      return Buffer.from(`${rootName}${trimmed.slice(root.length)}`);
    }
  }
  return Buffer.from(trimmed.replace(/^\/+/, ''));
}

/** The newest snapshot of the same host and the same paths (as a set): a backup's parent, or null. */
export function latestParent(records: readonly SnapshotRecord[], hostname: string, paths: readonly string[]): SnapshotRecord | null {
  const key = [...paths].sort().join('\0');
  return records.filter((record) => record.snapshot.hostname === hostname && [...record.snapshot.paths].sort().join('\0') === key).at(-1) ?? null;
}
