/**
 * holdfast restore SNAPSHOT[:PATH] --target DIR [--include GLOB] [--exclude GLOB] [--verify]
 *                  [--numeric-owner] [--no-same-owner] [repository options]
 * holdfast restore SNAPSHOT --volume-target IMAGE [repository options]
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { compileGlobs, OwnerNames, restoreSnapshot, restoreVolume, verifyRestoredFiles } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { makeDirectories } from './make-directories.js';
import { formatBytes, formatDuration, Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository, type RepositoryValues } from './repository-options.js';
import { entryPathIn, parseSnapshotArgument } from './snapshot-argument.js';
import { findFilteredSnapshot, parseSnapshotFilter, snapshotFilterOptionSpec, snapshotFilterUsage } from './snapshot-filter.js';

export const restoreUsage = `Usage: holdfast restore SNAPSHOT[:PATH] --target DIR [--include GLOB]... [--exclude GLOB]...
                        [--verify] [--numeric-owner] [--no-same-owner] [--host H] [--tag T] [--path P]
       holdfast restore SNAPSHOT --volume-target IMAGE

Restores a snapshot ("latest" or an id) under DIR (created if missing) by absolute path
(/srv/www as DIR/srv/www), or PATH in it ("latest:/srv/www") and what is below it as DIR/www,
with every part of every file: data and holes, owners (as root),
modes, ACLs, xattrs, links, special files and nanosecond times. --verify reads every restored
file back and checks it against the snapshot's chunk ids.

A damaged snapshot restores every file that can be read whole. A file whose chunks are missing
or damaged is left out (never half-written) and named on stderr as "not restored: PATH: reason"
(with --json: {"type":"not-restored","path","code","reason"}); a tree blob that cannot be read is
named the same way ({"type":"tree-unreadable","tree","message"}): the entries it held are unknown.
Then the exit code is 3 (partial), as it is for entries refused as unsafe.

--volume-target writes a volume snapshot (made by "backup --volume") to IMAGE as a sparse image
file of the volume's size: created, or truncated and rewritten if it exists; holes are left
unwritten. IMAGE must be a regular file (block devices are not supported yet).

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

export async function restoreCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...repositoryOptionSpec,
      ...snapshotFilterOptionSpec,
      target: { type: 'string', short: 't' },
      include: { type: 'string', multiple: true, default: [] },
      exclude: { type: 'string', multiple: true, default: [] },
      verify: { type: 'boolean', default: false },
      'numeric-owner': { type: 'boolean', default: false },
      'no-same-owner': { type: 'boolean', default: false },
      'volume-target': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(restoreUsage);
    return exitCodes.ok;
  }
  if (values['volume-target'] !== undefined) {
    if (positionals.length !== 1) throw new UsageError('give one SNAPSHOT to restore');
    if (values.target !== undefined || values.include.length > 0 || values.exclude.length > 0 || values.verify) throw new UsageError('--target, --include, --exclude and --verify do not apply to --volume-target');
    return volumeRestoreCommand(values, positionals[0]!, values['volume-target']);
  }
  if (positionals.length !== 1) throw new UsageError('give one SNAPSHOT[:PATH] to restore');
  if (values.target === undefined) throw new UsageError('give the directory to restore into with --target DIR');
  const argument = parseSnapshotArgument(positionals[0]!);
  const filter = parseSnapshotFilter(values);
  const includes = compileGlobs(values.include);
  const excludes = compileGlobs(values.exclude);
  const reporter = new Reporter({ verb: 'restore', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  const root = process.getuid?.() === 0;
  return runInRepository(values, reporter, { place, password, readOnly: true }, async ({ io, pool, repository, signal, restoreBatches }) => {
    const record = await findFilteredSnapshot(repository, argument.name, filter, reporter);
    makeDirectories(values.target!, 'create the restore target');
    const target = Buffer.from(realpathSync(values.target!));
    const ownerNames = await OwnerNames.load();
    const summary = await restoreSnapshot(io, repository, record.snapshot, target, {
      pool,
      batches: restoreBatches,
      subPath: entryPathIn(record.snapshot, argument.path),
      select: (name) => (excludes(name) ? 'exclude' : values.include.length > 0 && includes(name) ? 'include' : 'default'),
      owners: root && !values['no-same-owner'],
      numericOwner: values['numeric-owner'],
      acls: true,
      xattrs: true,
      privilegedXattrs: root,
      ownerNames,
      onWarning: (path, message) => reporter.problem('warning', path, message),
      onRefused: (path, error) => reporter.problem('refused', path, error),
      signal,
      onNotRestored: (path, reason, error) => {
        reporter.problems++;
        reporter.note('not-restored', { path, code: (error as { code?: string }).code, reason }, `not restored: ${path}: ${reason}`);
      },
      onDamagedTree: (treeId, error) => {
        reporter.problems++;
        reporter.note('tree-unreadable', { tree: treeId, code: (error as { code?: string }).code, message: error.message }, `not restored: tree ${treeId.slice(0, 16)} cannot be read, the entries it holds are unknown: ${error.message}`);
      },
      onProgress: (progress) =>
        reporter.status({ ...progress }, (seconds) => {
          const rate = progress.dataBytes / seconds;
          const eta = rate > 0 ? `, ETA ${formatDuration((progress.dataBytesTotal - progress.dataBytes) / rate)}` : '';
          return `${progress.entries}/${progress.entriesTotal} entries, ${formatBytes(progress.dataBytes)} of ${formatBytes(progress.dataBytesTotal)}, ${formatBytes(rate)}/s${eta}  ${progress.currentPath}`;
        }),
    });
    let verified: number | null = null;
    if (values.verify) {
      const result = await verifyRestoredFiles(io, repository, record.snapshot, target, entryPathIn(record.snapshot, argument.path), pool, (path, message) => reporter.problem('refused', path, message));
      verified = result.filesVerified;
    }
    reporter.summary(
      { snapshot: record.id, ...summary, filesVerified: verified, problems: reporter.problems },
      `restored ${summary.entriesRestored} entries, ${formatBytes(summary.dataBytes)} of data from snapshot ${record.id.slice(0, 8)} in ${formatDuration(reporter.elapsedMs / 1000)}${verified === null ? '' : `; ${verified} files verified`}`,
    );
    return reporter.problems > 0 ? exitCodes.partial : exitCodes.ok;
  });
}

async function volumeRestoreCommand(values: Parameters<typeof parseSnapshotFilter>[0] & RepositoryValues, name: string, target: string): Promise<number> {
  const argument = parseSnapshotArgument(name);
  if (argument.path !== null) throw new UsageError('a volume is restored whole: give SNAPSHOT without :PATH');
  const filter = parseSnapshotFilter(values);
  const reporter = new Reporter({ verb: 'restore', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  const targetPath = resolve(target);
  return runInRepository(values, reporter, { place, password, readOnly: true }, async ({ io, pool, repository }) => {
    const record = await findFilteredSnapshot(repository, argument.name, filter, reporter);
    const summary = await restoreVolume(io, repository, record.snapshot, targetPath, {
      pool,
      onProgress: (progress) => reporter.status({ ...progress }, (seconds) => `${formatBytes(progress.dataBytes)} of ${formatBytes(progress.dataBytesTotal)}, ${formatBytes(progress.dataBytes / seconds)}/s`),
    });
    reporter.summary({ snapshot: record.id, target: targetPath, ...summary }, `restored the volume of snapshot ${record.id.slice(0, 8)} to ${targetPath}: ${formatBytes(summary.sizeBytes)}, ${formatBytes(summary.dataBytes)} of data in ${formatDuration(reporter.elapsedMs / 1000)}`);
    return exitCodes.ok;
  });
}
