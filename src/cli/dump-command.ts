/**
 * holdfast dump SNAPSHOT PATH [-o FILE] [--host H] [--tag T] [--path P] [repository options]
 *
 * Writes a file of a snapshot to stdout as its bytes, or a directory (or "/", the whole
 * snapshot) as a pax tar; engine/dump.ts does the work.
 */
import { parseArgs } from 'node:util';
import { dumpSnapshot, type Handle } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { formatBytes, Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { entryPathIn } from './snapshot-argument.js';
import { findFilteredSnapshot, parseSnapshotFilter, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const dumpUsage = `Usage: holdfast dump SNAPSHOT PATH [-o FILE] [--host H] [--tag T] [--path P]

Writes PATH of the snapshot ("latest" or an id) to stdout (or FILE): a regular file as its bytes
(holes as zeros), a directory as a pax tar of it and what is below it, named from its own name
(GNU tar and bsdtar extract it with every part of every file). PATH is the absolute path it had
when backed up ("/srv/data/sub"), as "ls" shows it; "/" dumps the whole snapshot (named by
absolute path without the "/"). A tar is not written to a terminal.
  -o, --output FILE      write to FILE instead of stdout

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

export async function dumpCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, ...snapshotFilterOptionSpec, output: { type: 'string', short: 'o', default: '-' } },
  });
  if (values.help) {
    process.stdout.write(dumpUsage);
    return exitCodes.ok;
  }
  if (positionals.length !== 2) throw new UsageError('give a SNAPSHOT and a PATH in it ("/" for all of it)');
  const [name, path] = positionals as [string, string];
  const filter = parseSnapshotFilter(values);
  const toStdout = values.output === '-';
  const reporter = new Reporter({ verb: 'dump', json: values.json, quiet: values.quiet, jsonStream: process.stderr });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password }, async ({ io, pool, repository }) => {
    const record = await findFilteredSnapshot(repository, name, filter, reporter);
    const subPath = entryPathIn(record.snapshot, path === '' || /^\/+$/.test(path) ? null : path);
    const output: Handle = toStdout ? await io.standardStream('stdout') : await io.open(values.output, { access: 'write', create: true, truncate: true });
    const summary = await dumpSnapshot(io, repository, record.snapshot, subPath, output, {
      pool,
      tarAllowed: !(toStdout && process.stdout.isTTY),
      onSkip: (entryPath, reason) => reporter.problem('skipped', entryPath, reason),
    });
    reporter.summary({ snapshot: record.id, ...summary }, `dumped ${summary.format === 'file' ? 'a file' : `${summary.entries} entries as tar`}, ${formatBytes(summary.outputBytes)}`);
    return reporter.problems > 0 ? exitCodes.partial : exitCodes.ok;
  });
}
