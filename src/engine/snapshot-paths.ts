/**
 * How paths outside a snapshot meet the names inside it, and the snapshot a new backup of some
 * paths compares with (its parent).
 *
 * A version 2 snapshot names each entry by its absolute path without the leading "/"
 * ("srv/data/sub"); a version 1 snapshot named it from its root's own name ("data/sub"), so two
 * roots with one last name collided there. Both stay readable: a path is looked up in either.
 */
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import type { SnapshotRecord } from '../repo/repository.js';
import { displayPath } from '../base/file-path.js';

/**
 * The path as the snapshot names entries, or null for the whole snapshot ("/" or none). In a
 * version 2 snapshot that is the absolute path without its leading "/" (a relative path is taken
 * from "/" too). In a version 1 snapshot, a path under one of its roots is taken from that
 * root's own name, and any other path as an entry name already (leading "/" removed).
 */
export function entryPathIn(snapshot: Pick<Snapshot, 'paths' | 'version'>, path: string | null): Buffer | null {
  if (path === null) return null;
  const trimmed = path.replace(/\/+$/, '');
  if (snapshot.version >= 2) {
    const name = trimmed.split('/').filter((part) => part !== '' && part !== '.').join('/');
    return name === '' ? null : Buffer.from(name);
  }
  for (const given of snapshot.paths) {
    const root = given.replace(/\/+$/, '');
    if (trimmed === root || trimmed.startsWith(`${root}/`)) {
      const rootName = root.slice(root.lastIndexOf('/') + 1);
      return Buffer.from(`${rootName}${trimmed.slice(root.length)}`);
    }
  }
  return Buffer.from(trimmed.replace(/^\/+/, ''));
}

/**
 * An entry's name as a version 2 snapshot would have it: a version 1 name gets the directory of
 * the first root whose own name it begins with ("data/sub" of root "/srv/data": "srv/data/sub").
 */
export function absoluteEntryName(snapshot: Pick<Snapshot, 'paths' | 'version'>, name: Buffer): Buffer {
  if (snapshot.version >= 2) return name;
  const slash = name.indexOf(0x2f);
  const first = (slash === -1 ? name : name.subarray(0, slash)).toString('latin1');
  for (const root of snapshot.paths) {
    const rootBytes = Buffer.from(root.replace(/\/+$/, ''));
    const cut = rootBytes.lastIndexOf(0x2f);
    if (rootBytes.subarray(cut + 1).toString('latin1') === first) return Buffer.concat([rootBytes.subarray(1, cut + 1), name]);
  }
  return name;
}

/** An entry's name as ls, find and diff show it: absolute ("/srv/data/sub") in a version 2 snapshot. */
export function shownEntryPath(snapshot: Pick<Snapshot, 'version'>, name: Buffer): string {
  return snapshot.version >= 2 ? `/${displayPath(name)}` : displayPath(name);
}

/** The newest snapshot of the same host and the same paths (as a set): a backup's parent, or null. */
export function latestParent(records: readonly SnapshotRecord[], hostname: string, paths: readonly string[]): SnapshotRecord | null {
  const key = [...paths].sort().join('\0');
  return records.filter((record) => record.snapshot.hostname === hostname && [...record.snapshot.paths].sort().join('\0') === key).at(-1) ?? null;
}
