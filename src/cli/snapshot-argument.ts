/**
 * SNAPSHOT[:PATH] as every verb takes it: "latest" or a (short) id, then an optional path inside
 * the snapshot, either as stored ("data/sub", starting at a backed-up root's own name) or as
 * the absolute path it had when backed up ("/srv/data/sub").
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
