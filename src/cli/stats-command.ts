/**
 * holdfast stats [SNAPSHOT...] [repository options]
 *
 * Two views: what the chosen snapshots hold (entries, files, the bytes a restore writes, the
 * unique chunks behind them), and what the repository stores (blobs, packs, the bytes of data/).
 * dedupRatio = restore bytes / unique chunk bytes; compressionRatio = raw bytes of every indexed
 * blob / their stored bytes (so above 1 means smaller on disk).
 */
import { parseArgs } from 'node:util';
import { snapshotEntries, type SnapshotRecord } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { formatBytes, Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { findFilteredSnapshot, matchesFilter, parseSnapshotFilter, reportDamagedSnapshots, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const statsUsage = `Usage: holdfast stats [SNAPSHOT...] [--host H] [--tag T] [--path P]

What the snapshots given ("latest" or ids; default every snapshot) hold: entries, files, the
bytes a restore of them writes, and the unique chunks those bytes are made of. Then what the
repository stores: blobs, packs, the bytes of its pack files, the compression and deduplication
ratios, and the memory the index takes per blob. With --json, one object.

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

export async function statsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...repositoryOptionSpec, ...snapshotFilterOptionSpec } });
  if (values.help) {
    process.stdout.write(statsUsage);
    return exitCodes.ok;
  }
  const filter = parseSnapshotFilter(values);
  const reporter = new Reporter({ verb: 'stats', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, readOnly: true }, async ({ repository }) => {
    const records: SnapshotRecord[] = [];
    // Damaged snapshot files are left out of the listing and named: the result lacks them (exit 3).
    let damaged = 0;
    if (positionals.length === 0) {
      const listing = await repository.listSnapshots();
      reportDamagedSnapshots(reporter, listing.damaged, 'skipped');
      damaged = listing.damaged.length;
      records.push(...listing.records.filter((record) => matchesFilter(filter, record.snapshot)));
    }
    for (const name of positionals) records.push(await findFilteredSnapshot(repository, name, filter, reporter));
    let entries = 0;
    let files = 0;
    let dataBytes = 0;
    const chunks = new Map<string, number>();
    for (const record of records) {
      for await (const entry of snapshotEntries(repository, record.snapshot)) {
        entries++;
        if (entry.header.type === 'file') {
          files++;
          dataBytes += entry.header.sizeBytes;
        }
        for (const chunk of entry.chunks) chunks.set(chunk.id.toString('hex'), chunk.rawBytes);
      }
    }
    let uniqueBytes = 0;
    for (const rawBytes of chunks.values()) uniqueBytes += rawBytes;
    let blobRawBytes = 0;
    let blobStoredBytes = 0;
    for (const blob of repository.index.entries()) {
      blobRawBytes += blob.rawBytes;
      blobStoredBytes += blob.storedBytes;
    }
    let packBytes = 0;
    for (const file of await repository.backend.list('data')) packBytes += file.sizeBytes;
    const index = repository.index;
    const stats = {
      snapshots: records.length,
      entries,
      files,
      dataBytes,
      uniqueChunks: chunks.size,
      uniqueChunkBytes: uniqueBytes,
      blobs: index.count,
      packs: index.packCount,
      blobRawBytes,
      blobStoredBytes,
      packBytes,
      compressionRatio: ratio(blobRawBytes, blobStoredBytes),
      dedupRatio: ratio(dataBytes, uniqueBytes),
      indexBytesPerBlob: index.count === 0 ? 0 : Math.round(index.memoryBytes / index.count),
    };
    if (values.json) process.stdout.write(`${JSON.stringify({ type: 'stats', ...stats })}\n`);
    else process.stdout.write(statsText(stats));
    return damaged > 0 ? exitCodes.partial : exitCodes.ok;
  });
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : Math.round((numerator / denominator) * 100) / 100;
}

function statsText(stats: Record<string, number>): string {
  const rows: [string, string][] = [
    ['Snapshots', String(stats['snapshots'])],
    ['Entries', String(stats['entries'])],
    ['Files', String(stats['files'])],
    ['Restore size', `${formatBytes(stats['dataBytes']!)} (${stats['dataBytes']} bytes)`],
    ['Unique chunks', `${stats['uniqueChunks']}, ${formatBytes(stats['uniqueChunkBytes']!)}`],
    ['Dedup ratio', `${stats['dedupRatio']!.toFixed(2)}x`],
    ['Blobs', `${stats['blobs']} in ${stats['packs']} packs`],
    ['Stored', `${formatBytes(stats['packBytes']!)} in pack files (blobs: ${formatBytes(stats['blobRawBytes']!)} raw, ${formatBytes(stats['blobStoredBytes']!)} stored)`],
    ['Compression ratio', `${stats['compressionRatio']!.toFixed(2)}x`],
    ['Index memory', `${stats['indexBytesPerBlob']} bytes per blob`],
  ];
  return rows.map(([name, value]) => `${`${name}:`.padEnd(19)}${value}\n`).join('');
}
