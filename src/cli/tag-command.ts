/**
 * holdfast tag [--set T[,T...]] [--add T[,T...]] [--remove T[,T...]] [SNAPSHOT-ID...]
 *              [--host H] [--tag T] [--path P] [repository options]
 *
 * Changes the tags of stored snapshots, as restic's tag: the snapshots given by id, or without
 * ids every snapshot the filter selects. The work is engine/tag-snapshots.ts's; this file parses
 * and renders.
 */
import { parseArgs } from 'node:util';
import { parseTagList, retagSnapshots, type TagChange } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { matchesFilter, parseSnapshotFilter, snapshotFilterOptionSpec, reportDamagedSnapshots, snapshotFilterUsage, snapshotsById } from './snapshot-filter.js';

export const tagUsage = `Usage: holdfast tag [--set TAG[,TAG...]] [--add TAG[,TAG...]] [--remove TAG[,TAG...]]
                    [SNAPSHOT-ID...] [--host H] [--tag T] [--path P]

Changes the tags of the snapshots given by id (short ids too), or of every snapshot the filter
selects when no id is given. --set replaces all tags (--set "" removes them all); --add and
--remove may repeat and be combined. A comma list means several tags. A changed snapshot gets a
new id (the old file is removed after the new one is stored) and records its original id.

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

export async function tagCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...repositoryOptionSpec,
      ...snapshotFilterOptionSpec,
      set: { type: 'string', multiple: true, default: [] },
      add: { type: 'string', multiple: true, default: [] },
      remove: { type: 'string', multiple: true, default: [] },
    },
  });
  if (values.help) {
    process.stdout.write(tagUsage);
    return exitCodes.ok;
  }
  const tags = (lists: string[]): string[] => lists.flatMap(parseTagList).filter((tag) => tag !== '');
  const change: TagChange = { set: values.set.length > 0 ? tags(values.set) : null, add: tags(values.add), remove: tags(values.remove) };
  if (change.set === null && change.add.length === 0 && change.remove.length === 0) throw new UsageError('give --set, --add or --remove');
  if (change.set !== null && (change.add.length > 0 || change.remove.length > 0)) throw new UsageError('--set cannot be combined with --add or --remove');
  const filter = parseSnapshotFilter(values);
  const reporter = new Reporter({ verb: 'tag', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, loadIndex: false }, async ({ repository }) => {
    const listing = positionals.length > 0 ? { records: await snapshotsById(repository, positionals), damaged: [] } : await repository.listSnapshots();
    // A damaged snapshot file cannot be retagged (it cannot be read): named, and the exit code is 3.
    reportDamagedSnapshots(reporter, listing.damaged, 'skipped');
    const records = positionals.length > 0 ? listing.records : listing.records.filter((record) => matchesFilter(filter, record.snapshot));
    const results = await retagSnapshots(repository, records, change);
    const changed = results.filter((result) => result.changed).length;
    if (values.json) {
      for (const result of results) process.stdout.write(`${JSON.stringify({ type: 'tagged', ...result })}\n`);
    } else {
      for (const result of results) {
        const tagText = result.tags.length === 0 ? 'no tags' : `tags ${result.tags.join(',')}`;
        process.stdout.write(result.changed ? `${result.previousId.slice(0, 8)} -> ${result.id.slice(0, 8)}: ${tagText}\n` : `${result.id.slice(0, 8)}: unchanged (${tagText})\n`);
      }
    }
    reporter.summary({ snapshots: results.length, changed }, `changed the tags of ${changed} of ${results.length} snapshot${results.length === 1 ? '' : 's'}`);
    return reporter.problems > 0 ? exitCodes.partial : exitCodes.ok;
  });
}
