/**
 * holdfast snapshots [--host H] [--tag T] [--path P] [repository options]
 */
import { parseArgs } from 'node:util';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { formatBytes, Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { matchesFilter, parseSnapshotFilter, reportDamagedSnapshots, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const snapshotsUsage = `Usage: holdfast snapshots [--host NAME] [--tag TAG] [--path PATH]

Lists the snapshots, oldest first: id, time, host, tags, paths, files and size. A snapshot file
that cannot be read (damaged, or not a snapshot of this repository) is named on stderr and left
out, and the exit code is 3.

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

export async function snapshotsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, ...snapshotFilterOptionSpec },
  });
  if (values.help) {
    process.stdout.write(snapshotsUsage);
    return exitCodes.ok;
  }
  if (positionals.length > 0) throw new UsageError('snapshots takes no arguments');
  const filter = parseSnapshotFilter(values);
  const reporter = new Reporter({ verb: 'snapshots', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, loadIndex: false, readOnly: true }, async ({ repository }) => {
    const listing = await repository.listSnapshots();
    reportDamagedSnapshots(reporter, listing.damaged, 'skipped');
    const records = listing.records.filter((record) => matchesFilter(filter, record.snapshot));
    const exitCode = listing.damaged.length > 0 ? exitCodes.partial : exitCodes.ok;
    if (values.json) {
      for (const record of records) process.stdout.write(`${JSON.stringify({ type: 'snapshot', id: record.id, shortId: record.id.slice(0, 8), ...record.snapshot })}\n`);
      return exitCode;
    }
    const rows = records.map((record) => [
      record.id.slice(0, 8),
      record.snapshot.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      record.snapshot.hostname,
      record.snapshot.tags.join(','),
      `${record.snapshot.summary.files} files`,
      formatBytes(record.snapshot.summary.dataBytes),
      record.snapshot.paths.join(' '),
    ]);
    printTable(['ID', 'Time', 'Host', 'Tags', 'Files', 'Size', 'Paths'], rows);
    const left = listing.damaged.length > 0 ? ` (${listing.damaged.length} damaged left out)` : '';
    process.stdout.write(`${records.length} snapshot${records.length === 1 ? '' : 's'}${left}\n`);
    return exitCode;
  });
}

export function printTable(headings: string[], rows: string[][]): void {
  const widths = headings.map((heading, column) => Math.max(heading.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  process.stdout.write(`${line(headings)}\n${widths.map((width) => '-'.repeat(width)).join('  ')}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}
