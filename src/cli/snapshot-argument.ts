/**
 * SNAPSHOT[:PATH] as every verb takes it: "latest" or a (short) id, then an optional path inside
 * the snapshot: the absolute path it had when backed up ("/srv/data/sub"). In a snapshot of
 * holdfast 0.1 (version 1) a name as it stored it ("data/sub", from a root's own name) works too.
 */
export { entryPathIn } from '../api/internal.js';

export interface SnapshotArgument {
  name: string;
  path: string | null;
}

export function parseSnapshotArgument(text: string): SnapshotArgument {
  const colon = text.indexOf(':');
  if (colon < 0) return { name: text, path: null };
  const path = text.slice(colon + 1);
  return { name: text.slice(0, colon), path: path === '' || path === '/' ? null : path };
}
