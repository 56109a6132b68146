/**
 * holdfast find PATTERN... [--snapshot ID]... [repository options]
 *
 * Patterns mean what they mean to backup --exclude and restore --include (globs.ts): without
 * "/" an entry's own name at any depth, with "/" its path.
 */
import { parseArgs } from 'node:util';
import { compileGlobs, shownEntryPath, snapshotEntries, type SnapshotRecord } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { entryJson, isoTimeNs } from './ls-command.js';
import { Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { findFilteredSnapshot, matchesFilter, parseSnapshotFilter, reportDamagedSnapshots, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const findUsage = `Usage: holdfast find PATTERN... [--snapshot ID]... [--host H] [--tag T] [--path P]

Finds the entries whose name or path matches a PATTERN, in every snapshot (oldest first) or in
the snapshots given ("latest" or ids). A pattern without "/" matches an entry's own name at any
depth ("*.txt"); one with "/" matches its path ("docs/**/*.md"). One line per match: snapshot,
path, size and modification time. With --json, one object per match.

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

export async function findCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, ...snapshotFilterOptionSpec, snapshot: { type: 'string', short: 's', multiple: true, default: [] } },
  });
  if (values.help) {
    process.stdout.write(findUsage);
    return exitCodes.ok;
  }
  if (positionals.length === 0) throw new UsageError('give at least one PATTERN to find');
  const matches = compileGlobs(positionals);
  const filter = parseSnapshotFilter(values);
  const reporter = new Reporter({ verb: 'find', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, readOnly: true }, async ({ repository }) => {
    const records: SnapshotRecord[] = [];
    // Damaged snapshot files are left out of the listing and named: the result lacks them (exit 3).
    let damaged = 0;
    if (values.snapshot.length === 0) {
      const listing = await repository.listSnapshots();
      reportDamagedSnapshots(reporter, listing.damaged, 'skipped');
      damaged = listing.damaged.length;
      records.push(...listing.records.filter((record) => matchesFilter(filter, record.snapshot)));
    }
    for (const name of values.snapshot) records.push(await findFilteredSnapshot(repository, name, filter, reporter));
    let found = 0;
    for (const record of records) {
      const shortId = record.id.slice(0, 8);
      for await (const entry of snapshotEntries(repository, record.snapshot)) {
        if (!matches(entry.header.path.toString('utf8'))) continue;
        found++;
        const header = entry.header;
        const show = (name: Buffer): string => shownEntryPath(record.snapshot, name);
        if (values.json) process.stdout.write(`${JSON.stringify({ snapshot: record.id, shortId, ...entryJson(header, show) })}\n`);
        else process.stdout.write(`${shortId}  ${show(header.path)}  ${header.sizeBytes}  ${isoTimeNs(header.mtimeNs, false)}\n`);
      }
    }
    reporter.summary({ matches: found, snapshots: records.length }, `${found} match${found === 1 ? '' : 'es'} in ${records.length} snapshot${records.length === 1 ? '' : 's'}`);
    return damaged > 0 ? exitCodes.partial : exitCodes.ok;
  });
}
