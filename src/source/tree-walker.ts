/**
 * Walks file trees and yields each entry with its whole self: stat metadata, owner names,
 * xattrs, ACLs, the link target, hardlink references, the data map and the data.
 *
 * Order: a directory comes before its children; children in byte order of their names, so the
 * same tree always gives the same stream. Entry names start at the root's own name (exporting
 * "/srv/www" gives "www", "www/index.html"): the parent of a root is never part of a name.
 * With `absoluteNames` (backup), names are the whole absolute path without its leading "/"
 * ("srv/www/index.html"), each root's parent directories come first as entries of their own
 * (once, from lstat), roots are walked in path order, a root inside another is walked once as
 * part of it, and "/" itself may be a root (its children are the top entries).
 *
 * Lifetime: a file's handle is opened when its entry is made and closed when the walk moves on,
 * when the consumer leaves the loop, or when the data has been read, whichever is first.
 * Per-entry problems (an unreadable file) go to `onProblem` and the entry is left out.
 *
 * Given FileBatches (the real machine), a directory's children go through batched-walk.ts: the
 * same entries, read many at a time on worker threads; each entry is made in walk-entry.ts.
 */
import { basename } from 'node:path';
import { displayPath, isAtOrBelow, joinPath, pathBytes, type FilePath } from '../base/file-path.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { FileStat } from '../io/backend.js';
import type { Io } from '../io/io.js';
import { walkChildrenInBatches, takeScan } from './batched-walk.js';
import { readXattrMetadata } from './entry-metadata.js';
import type { ScannedDirectory } from './file-batches.js';
import type { SourceEntry } from './source-entry.js';
import { batchedData, headerFromStat, noData, prefetchEntriesMax, prefetchEntriesTotalMax, prepare, readData, type Prepared, type WalkOptions, type WalkState } from './walk-entry.js';

export { headerFromStat, prefetchEntriesMax, prefetchEntriesTotalMax, type WalkOptions } from './walk-entry.js';

export async function* walkTrees(io: Io, roots: readonly FilePath[], options: WalkOptions): AsyncGenerator<SourceEntry> {
  const hardlinks = new Map<string, Buffer>();
  const scans = new Map<string, Promise<ScannedDirectory | null>>();
  try {
    if (options.absoluteNames === true) yield* walkAbsolute(io, roots, options, hardlinks, scans);
    else yield* walkRelative(io, roots, options, hardlinks, scans);
  } finally {
    // Scans started ahead for directories the walk did not reach (it was left early): settled.
    await Promise.all(scans.values());
  }
}

async function* walkRelative(io: Io, roots: readonly FilePath[], options: WalkOptions, hardlinks: Map<string, Buffer>, scans: Map<string, Promise<ScannedDirectory | null>>): AsyncGenerator<SourceEntry> {
  for (const root of roots) {
    const rootBytes = stripTrailingSlashes(pathBytes(root));
    const name = Buffer.from(basename(rootBytes.toString('latin1')), 'latin1');
    if (name.length === 0 || name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) {
      throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'export', path: displayPath(root) }, 'give a path that names a file or directory (not "/", "." or "..")');
    }
    const rootStat = await io.lstat(rootBytes);
    yield* walkEntry({ io, options, hardlinks, rootDevice: rootStat.device, prefix: Buffer.alloc(0), aheadCount: 0, aheadBytes: 0, scans }, rootBytes, name, rootStat);
  }
}

/** The roots by absolute path: parents first (once), a root inside another left to it. */
async function* walkAbsolute(io: Io, roots: readonly FilePath[], options: WalkOptions, hardlinks: Map<string, Buffer>, scans: Map<string, Promise<ScannedDirectory | null>>): AsyncGenerator<SourceEntry> {
  const parentsDone = new Set<string>();
  for (const rootBytes of outermostRoots(roots)) {
    const slash = rootBytes.lastIndexOf(0x2f);
    const prefix = rootBytes.subarray(1, slash + 1);
    yield* parentEntries(io, prefix, options, parentsDone);
    const rootStat = await io.lstat(rootBytes);
    const state: WalkState = { io, options, hardlinks, rootDevice: rootStat.device, prefix, aheadCount: 0, aheadBytes: 0, scans };
    if (rootBytes.length === 1) yield* walkChildren(state, rootBytes, Buffer.alloc(0));
    else yield* walkEntry(state, rootBytes, rootBytes.subarray(slash + 1), rootStat);
  }
}

/**
 * Absolute, normalised roots ("/srv/www", or "/" alone), in the order a walk of "/" would meet
 * them (component by component, bytewise), without one at or below another.
 */
function outermostRoots(roots: readonly FilePath[]): Buffer[] {
  const normalised = roots.map((root) => {
    const bytes = pathBytes(root);
    const parts = bytes.toString('latin1').split('/').filter((part) => part !== '' && part !== '.');
    if (bytes[0] !== 0x2f || parts.includes('..')) {
      throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'backup', path: displayPath(root) }, 'a path to back up must be absolute, without ".." (resolve it first)');
    }
    return Buffer.from(`/${parts.join('/')}`, 'latin1');
  });
  // Compared with "/" as byte 0, paths sort as a walk meets them: "/a/b" before "/a-c", since
  // the walk takes the names "a" and "a-c" in byte order; "/" comes first.
  const key = (path: Buffer): Buffer => Buffer.from(path.map((byte) => (byte === 0x2f ? 0 : byte)));
  normalised.sort((left, right) => Buffer.compare(key(left), key(right)));
  const kept: Buffer[] = [];
  for (const root of normalised) {
    const outer = kept.at(-1);
    if (outer !== undefined && (outer.length === 1 || isAtOrBelow(root, outer))) continue;
    kept.push(root);
  }
  return kept;
}

/**
 * The directories above a root ("srv/" gives "srv"), each once over all roots, from lstat. One
 * that cannot be read stops the backup: without it, what is below could not be restored.
 */
async function* parentEntries(io: Io, prefix: Buffer, options: WalkOptions, done: Set<string>): AsyncGenerator<SourceEntry> {
  for (let end = prefix.indexOf(0x2f); end !== -1; end = prefix.indexOf(0x2f, end + 1)) {
    const name = prefix.subarray(0, end);
    const key = name.toString('latin1');
    if (done.has(key)) continue;
    done.add(key);
    const path = Buffer.concat([Buffer.from('/'), name]);
    const stat = await io.lstat(path);
    // The roots come with their links resolved (backup-command.ts, api/holdfast.ts): a link here
    // was put there since, and what is below it would be restored through a directory instead.
    if (stat.kind !== 'directory') throw holdfastError('HOLDFAST_UNSAFE_PATH', { operation: 'backup', path: displayPath(path) }, 'a directory above a path to back up is not a directory (give paths with their links resolved)');
    const header = headerFromStat(Buffer.from(name), 'directory', stat, options.ownerNames);
    Object.assign(header, await readXattrMetadata(io, path, path));
    yield { header, data: noData, identity: { device: stat.device, inode: stat.inode } };
  }
}

function stripTrailingSlashes(path: Buffer): Buffer {
  let end = path.length;
  while (end > 1 && path[end - 1] === 0x2f) end--;
  return path.subarray(0, end);
}

async function* walkEntry(state: WalkState, path: Buffer, name: Buffer, knownStat: FileStat | null): AsyncGenerator<SourceEntry> {
  const prepared = await prepare(state, path, name, knownStat);
  if (prepared !== null) yield* emit(state, prepared);
}

/** Yields a prepared entry in its turn (hardlinks are decided here, in walk order), then its children. */
async function* emit(state: WalkState, prepared: Prepared): AsyncGenerator<SourceEntry> {
  const { header, stat, handle } = prepared;
  const identity = { device: stat.device, inode: stat.inode };
  try {
    if (header.type !== 'directory' && stat.linkCount > 1) {
      const key = `${stat.device}:${stat.inode}`;
      const first = state.hardlinks.get(key);
      if (first !== undefined) {
        Object.assign(header, { type: 'hardlink', sizeBytes: 0, linkTarget: first, xattrs: [], aclAccess: null, aclDefault: null, sparseMap: null });
        yield { header, data: noData, identity };
        return;
      }
      state.hardlinks.set(key, header.path);
    }
    if (handle !== null) {
      yield { header, data: () => readData(state.io, handle, header, state.options, displayPath(prepared.path)), identity };
      return;
    }
    const batched = prepared.batched;
    if (batched !== undefined) {
      yield { header, data: () => batchedData(batched, header, state.options, displayPath(prepared.path)), identity };
      return;
    }
    yield { header, data: noData, identity, unchanged: prepared.unchanged };
  } finally {
    await handle?.close();
  }
  if (header.type !== 'directory') return;
  if (state.options.oneFileSystem === true && stat.device !== state.rootDevice) return;
  yield* walkChildren(state, prepared.path, prepared.name);
}

async function* walkChildren(state: WalkState, path: Buffer, name: Buffer): AsyncGenerator<SourceEntry> {
  const batches = state.options.batches;
  const scanned = batches === undefined ? null : await takeScan(state, batches, path);
  let names: Buffer[];
  try {
    // A scan that failed is asked again through io, which names the error.
    names = scanned?.names ?? (await state.io.readDirectory(path));
  } catch (error) {
    state.options.onProblem(displayPath(path), error as Error);
    return;
  }
  if (scanned === null) names.sort(Buffer.compare);
  if (batches !== undefined) {
    yield* walkChildrenInBatches(state, batches, path, name, names, scanned, emit);
    return;
  }
  const ahead: Promise<Prepared | null>[] = [];
  let next = 0;
  const readAhead = (): void => {
    while (next < names.length && (ahead.length === 0 || (ahead.length < prefetchEntriesMax && state.aheadCount < prefetchEntriesTotalMax))) {
      const child = names[next++]!;
      state.aheadCount++;
      ahead.push(prepare(state, joinPath(path, child), joinPath(name, child), null));
    }
  };
  try {
    readAhead();
    while (ahead.length > 0) {
      const prepared = await ahead.shift()!;
      state.aheadCount--;
      readAhead();
      if (prepared !== null) yield* emit(state, prepared);
    }
  } finally {
    // Left early (the consumer stopped, or an error): close what was read ahead.
    for (const pending of ahead.splice(0)) {
      state.aheadCount--;
      await (await pending)?.handle?.close();
    }
  }
}
