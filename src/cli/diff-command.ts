/**
 * holdfast diff A B [repository options]
 *
 * Holds A's entries in a map by path (latin1: every byte a distinct character, so no two names
 * collide), then walks B once. Names are compared as absolute paths, so a version 1 snapshot
 * (names from each root's own name) compares with a version 2 one. Data added and removed
 * counts chunks, as the repository stores them: the raw bytes of the chunks B references and A
 * does not, and the other way round.
 */
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { absoluteEntryName, shownEntryPath, snapshotEntries, type EntryHeader, type Repository, type Snapshot, type TreeEntry } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { formatBytes, Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { findFilteredSnapshot, parseSnapshotFilter, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const diffUsage = `Usage: holdfast diff SNAPSHOT-A SNAPSHOT-B [--host H] [--tag T] [--path P]

Compares two snapshots ("latest" or ids) entry by entry, one line per difference:
  +  the entry is in B only            -  the entry is in A only
  M  a file's content changed          T  the entry's type changed
  U  only metadata changed (mode, owner, times, xattrs, ACLs, link target)
then a summary: how many of each, and the data added and removed (raw bytes of the chunks one
snapshot references and the other does not). With --json, {type: "change", change, path} lines
and a summary object.

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

type Change = '+' | '-' | 'M' | 'T' | 'U';

export async function diffCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...repositoryOptionSpec, ...snapshotFilterOptionSpec } });
  if (values.help) {
    process.stdout.write(diffUsage);
    return exitCodes.ok;
  }
  if (positionals.length !== 2) throw new UsageError('give two snapshots to compare');
  const filter = parseSnapshotFilter(values);
  const reporter = new Reporter({ verb: 'diff', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, readOnly: true }, async ({ repository }) => {
    const first = await findFilteredSnapshot(repository, positionals[0]!, filter, reporter);
    const second = await findFilteredSnapshot(repository, positionals[1]!, filter, reporter);
    const before = new Map<string, TreeEntry>();
    const chunksBefore = new Map<string, number>();
    for await (const entry of snapshotEntries(repository, first.snapshot)) {
      const path = absoluteEntryName(first.snapshot, entry.header.path);
      before.set(path.toString('latin1'), { ...entry, header: { ...entry.header, path } });
      for (const chunk of entry.chunks) chunksBefore.set(chunk.id.toString('hex'), chunk.rawBytes);
    }
    const changes: { change: Change; path: Buffer }[] = [];
    const chunksAfter = await walkSecond(repository, second.snapshot, before, changes);
    for (const entry of before.values()) changes.push({ change: '-', path: entry.header.path });
    changes.sort((a, b) => Buffer.compare(a.path, b.path));
    const counts: Record<Change, number> = { '+': 0, '-': 0, M: 0, T: 0, U: 0 };
    const shown = { version: Math.max(first.snapshot.version, second.snapshot.version) };
    for (const { change, path } of changes) {
      counts[change]++;
      if (values.json) process.stdout.write(`${JSON.stringify({ type: 'change', change, path: shownEntryPath(shown, path) })}\n`);
      else process.stdout.write(`${change} ${shownEntryPath(shown, path)}\n`);
    }
    const bytesAdded = bytesMissingFrom(chunksAfter, chunksBefore);
    const bytesRemoved = bytesMissingFrom(chunksBefore, chunksAfter);
    const fields = { from: first.id, to: second.id, added: counts['+'], removed: counts['-'], modified: counts.M, typeChanged: counts.T, metadataChanged: counts.U, bytesAdded, bytesRemoved };
    const text =
      `${first.id.slice(0, 8)} -> ${second.id.slice(0, 8)}: ${counts['+']} added, ${counts['-']} removed, ${counts.M} modified, ` +
      `${counts.T} type changed, ${counts.U} metadata changed; data ${formatBytes(bytesAdded)} added, ${formatBytes(bytesRemoved)} removed`;
    if (values.json) reporter.summary(fields, text);
    else process.stdout.write(`${text}\n`);
    return exitCodes.ok;
  });
}

/** Walks B against A's entries (taking out each one B also has); returns B's chunks. */
async function walkSecond(repository: Repository, snapshot: Snapshot, before: Map<string, TreeEntry>, changes: { change: Change; path: Buffer }[]): Promise<Map<string, number>> {
  const chunksAfter = new Map<string, number>();
  for await (const entry of snapshotEntries(repository, snapshot)) {
    for (const chunk of entry.chunks) chunksAfter.set(chunk.id.toString('hex'), chunk.rawBytes);
    const path = absoluteEntryName(snapshot, entry.header.path);
    const key = path.toString('latin1');
    const old = before.get(key);
    before.delete(key);
    const change = old === undefined ? '+' : compareEntries(old, entry);
    if (change !== null) changes.push({ change, path });
  }
  return chunksAfter;
}

/** How an entry at the same path changed, or null when it did not. */
export function compareEntries(old: TreeEntry, now: TreeEntry): Change | null {
  if (old.header.type !== now.header.type) return 'T';
  if (old.header.sizeBytes !== now.header.sizeBytes || !sameChunks(old, now)) return 'M';
  return sameMetadata(old.header, now.header) ? null : 'U';
}

function sameChunks(old: TreeEntry, now: TreeEntry): boolean {
  if (old.chunks.length !== now.chunks.length) return false;
  return old.chunks.every((chunk, index) => chunk.id.equals(now.chunks[index]!.id));
}

function sameMetadata(old: EntryHeader, now: EntryHeader): boolean {
  const sameBytes = (a: Buffer | null, b: Buffer | null): boolean => (a === null || b === null ? a === b : a.equals(b));
  return (
    old.mode === now.mode &&
    old.uid === now.uid &&
    old.gid === now.gid &&
    old.userName === now.userName &&
    old.groupName === now.groupName &&
    old.mtimeNs === now.mtimeNs &&
    old.deviceMajor === now.deviceMajor &&
    old.deviceMinor === now.deviceMinor &&
    sameBytes(old.linkTarget, now.linkTarget) &&
    isDeepStrictEqual(old.xattrs, now.xattrs) &&
    isDeepStrictEqual(old.aclAccess, now.aclAccess) &&
    isDeepStrictEqual(old.aclDefault, now.aclDefault)
  );
}

function bytesMissingFrom(chunks: Map<string, number>, other: Map<string, number>): number {
  let total = 0;
  for (const [id, rawBytes] of chunks) if (!other.has(id)) total += rawBytes;
  return total;
}
