/**
 * holdfast snapshots [--host H] [--tag T] [--path P] [repository options]
 */
import { parseArgs } from 'node:util';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { formatBytes, Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { matchesFilter, parseSnapshotFilter, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const snapshotsUsage = `Usage: holdfast snapshots [--host NAME] [--tag TAG] [--path PATH]

Lists the snapshots, oldest first: id, time, host, tags, paths, files and size.

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
  const reporter = new Reporter({ verb: 'snapshots', json: values.json, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, loadIndex: false, readOnly: true }, async ({ repository }) => {
    const records = (await repository.listSnapshots()).filter((record) => matchesFilter(filter, record.snapshot));
    if (values.json) {
      for (const record of records) process.stdout.write(`${JSON.stringify({ type: 'snapshot', id: record.id, shortId: record.id.slice(0, 8), ...record.snapshot })}\n`);
      return exitCodes.ok;
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
    process.stdout.write(`${records.length} snapshot${records.length === 1 ? '' : 's'}\n`);
    return exitCodes.ok;
  });
}

export function printTable(headings: string[], rows: string[][]): void {
  const widths = headings.map((heading, column) => Math.max(heading.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  process.stdout.write(`${line(headings)}\n${widths.map((width) => '-'.repeat(width)).join('  ')}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}
