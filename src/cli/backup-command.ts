/**
 * holdfast backup PATH... [--files-from F] [--tag T] [--host H] [--exclude GLOB] [--exclude-file F]
 *                 [--exclude-caches] [--exclude-if-present N] [--exclude-larger-than S] ...
 *                 [--one-file-system] [--dry-run] [--force] [repository options]
 * holdfast backup --stdin [--stdin-filename NAME] [--tag T] [--host H] [repository options]
 * holdfast backup --volume URI|IMAGE [--tag T] [--host H] [--force] [repository options]
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { backup, backupFilter, excludingDirectory, latestParent, backupVolume, displayPath, isNbdUri, OwnerNames, streamEntry, type BackupExclude, type BackupProgress, type BufferPool, type Io, type SnapshotRecord, type SourceEntry, type VolumeBackupProgress } from '../api/internal.js';
import { fromNodeError, HoldfastError } from '../errors/holdfast-error.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { filterOptions, hasFilterOptions, hasPathListOptions, selectedPaths, selectionOptionSpec, selectionUsage } from './backup-selection.js';
import { formatBytes, formatDuration, Reporter } from './reporter.js';
import { defaultRepositorySecret, keyOwner, passwordGiven, prepareDefaultRepository, readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository, type RepositoryPlace, type RepositoryValues } from './repository-options.js';
import { reportDamagedSnapshots } from './snapshot-filter.js';

export const backupUsage = `Usage: holdfast backup PATH... [--files-from FILE] [--tag TAG]... [--host NAME] [--exclude GLOB]...
                       [--exclude-file FILE] [--exclude-caches] [--exclude-if-present NAME]
                       [--exclude-larger-than SIZE] [--one-file-system] [--dry-run] [--force]
       holdfast backup --stdin [--stdin-filename NAME] [--tag TAG]... [--host NAME]
       holdfast backup --volume URI|IMAGE [--tag TAG]... [--host NAME] [--force]

Stores each PATH, with every part of every file, as a new snapshot that keeps absolute paths
(the directories above each PATH too, as entries): "/a/conf" and "/b/conf" are both kept, and
"/" backs up the whole system (--one-file-system keeps it off /proc and /sys). The repository,
when it is below a PATH, is left out with a note. Files whose device, inode,
size, mtime and ctime match the last snapshot of the same paths and host are not read again
(--force reads everything). --tag a,b adds the tags a and b. Unreadable files are skipped and
reported; the snapshot is still written and the exit code is 3. So is a PATH that does not
exist: it is reported and the others are backed up (with none left: exit code 1). A summary with the snapshot id goes to stderr,
terminal or not (-q, --quiet: none).
With no repository configured, the embedded default is created and used.

--volume stores a block volume as a snapshot (tagged "volume") with one sparse file: an NBD
export (nbd+unix:///EXPORT?socket=PATH or nbd://HOST[:PORT]/EXPORT) or an image file. Holes
and all-zero blocks are not stored. From a snapshot export of "holdfast volume serve" whose
previous snapshot was backed up last, only the blocks its change map marks are read; otherwise
every data block is (the summary's "reason" says why). A writable export is refused: take a
snapshot first with "holdfast volume snapshot". Restore with "restore SNAPSHOT --volume-target IMAGE".

${selectionUsage}
${repositoryOptionsUsage}`;

export async function backupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...repositoryOptionSpec,
      tag: { type: 'string', multiple: true, default: [] },
      host: { type: 'string' },
      ...selectionOptionSpec,
      'one-file-system': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', short: 'n', default: false },
      force: { type: 'boolean', default: false },
      volume: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(backupUsage);
    return exitCodes.ok;
  }
  if (values.volume !== undefined) {
    if (positionals.length > 0) throw new UsageError('give either PATH... or --volume, not both');
    if (hasFilterOptions(values) || hasPathListOptions(values) || values.stdin || values['one-file-system'] || values['dry-run']) throw new UsageError('the exclude options, --files-from, --stdin, --one-file-system and --dry-run do not apply to --volume');
    return volumeBackupCommand(values, values.volume);
  }
  if (values.stdin) {
    if (positionals.length > 0 || hasPathListOptions(values) || hasFilterOptions(values)) throw new UsageError('--stdin takes no PATH, --files-from or exclude option');
    return stdinBackupCommand(values);
  }
  const given = selectedPaths(values, positionals);
  if (given.length === 0) throw new UsageError('give at least one PATH to back up (or --files-from FILE, or --stdin)');
  const filter = filterOptions(values);
  const reporter = new Reporter({ verb: 'backup', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const { paths, missing } = sourcePaths(given);
  if (paths.length === 0) {
    for (const error of missing) reporter.fatal(error);
    return exitCodes.fatal;
  }
  for (const error of missing) reporter.problem('skipped', error.path, error);
  return storeSnapshot(values, reporter, { paths, missing, source: null, exclude: (io, pool) => backupFilter(io, { ...filter, pool }) });
}

/** What storeSnapshot stores: walked paths, or a source of entries that stands for `paths`. */
interface BackupPlan {
  /** Absolute; the snapshot's paths, and the roots walked when there is no source. */
  paths: string[];
  /** PATHs given that do not exist (reported already; they make the exit code 3). */
  missing: HoldfastError[];
  source: ((io: Io, pool: BufferPool) => Promise<SourceEntry[]>) | null;
  exclude: ((io: Io, pool: BufferPool) => BackupExclude | undefined) | null;
}

type FileBackupValues = RepositoryValues & { tag: string[]; host?: string | undefined; force: boolean; 'one-file-system': boolean; 'dry-run': boolean };

/** Opens (or for the embedded default, creates) the repository and stores one snapshot of the plan. */
async function storeSnapshot(values: FileBackupValues, reporter: Reporter, plan: BackupPlan): Promise<number> {
  const { paths, missing } = plan;
  const place = repositoryPlace(values);
  const madeDefault = prepareDefaultRepository(place, values);
  const password = await readPassword(values, place, place.location);
  const hostname = values.host ?? keyOwner().hostname;
  return runInRepository(values, reporter, { place, password, create: madeDefault ? 'unless-exists' : false }, async ({ io, pool, repository, lock, signal, fileBatches }, { created }) => {
    if (madeDefault) noteDefaultRepository(reporter, place, values, created);
    let parent: SnapshotRecord | null = null;
    if (!values.force) {
      // A damaged snapshot file is named and passed over: the parent is the newest intact one.
      const listing = await repository.listSnapshots();
      reportDamagedSnapshots(reporter, listing.damaged, 'warning');
      parent = latestParent(listing.records, hostname, paths);
    }
    const own = await io.lstat(place.location);
    const exclude = plan.exclude === null ? undefined : excludingDirectory(plan.exclude(io, pool), own, (path) => reporter.note('repository-left-out', { path: displayPath(path) }, `left out ${displayPath(path)}: it is the repository this backup writes to`));
    const result = await backup(io, repository, paths, {
      paths,
      tags: tagsToAdd(values.tag),
      hostname,
      username: keyOwner().username,
      ownerNames: await OwnerNames.load(),
      pool,
      parent,
      oneFileSystem: values['one-file-system'],
      fileBatches,
      ...(exclude === undefined ? {} : { exclude }),
      ...(plan.source === null ? {} : { source: await plan.source(io, pool) }),
      dryRun: values['dry-run'],
      beforeSnapshot: async () => lock?.assertHeld('save snapshot'),
      signal,
      onProblem: (path, error) => reporter.problem('skipped', path, error),
      onProgress: (progress) => reporter.status({ ...progress }, (seconds) => progressLine(progress, seconds)),
    });
    const summary = result.snapshot.summary;
    const id = result.snapshotId;
    const problems = summary.problems + missing.length;
    reporter.summary(
      { snapshot: id, parent: parent?.id ?? null, dryRun: values['dry-run'], ...summary, problems, missingPaths: missing.map((error) => error.path) },
      `${id === null ? 'dry run: would have stored' : `snapshot ${id.slice(0, 8)} saved:`} ${summary.files} files (${summary.filesUnchanged} unchanged), ${formatBytes(summary.dataBytes)} of data in ${formatDuration(summary.durationMs / 1000)}, ${formatBytes(summary.rawBytesAdded)} new (${formatBytes(summary.storedBytesAdded)} stored)${problems > 0 ? `, ${problems} problems` : ''}`,
    );
    return problems > 0 ? exitCodes.partial : exitCodes.ok;
  });
}

/**
 * backup --stdin: what stdin gives, stored as one file named --stdin-filename. The snapshot's
 * path is "/NAME", so the next one of the same name finds it as its parent and `dump latest NAME`
 * writes it back.
 */
async function stdinBackupCommand(values: FileBackupValues & { 'stdin-filename': string }): Promise<number> {
  const name = values['stdin-filename'];
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new UsageError(`--stdin-filename takes a file name without "/", not "${name}"`);
  if (process.stdin.isTTY) throw new UsageError('--stdin reads a stream, not a terminal: pipe the data in');
  const reporter = new Reporter({ verb: 'backup', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const source = async (io: Io, pool: BufferPool): Promise<SourceEntry[]> => [streamEntry(io, await io.standardStream('stdin'), { name: Buffer.from(name), ownerNames: await OwnerNames.load(), pool })];
  return storeSnapshot(values, reporter, { paths: [`/${name}`], missing: [], source, exclude: null });
}

async function volumeBackupCommand(values: RepositoryValues & { tag: string[]; host?: string | undefined; force: boolean }, volume: string): Promise<number> {
  // An image's path is made absolute (and its links resolved), so the next backup finds its parent.
  const source = isNbdUri(volume) ? volume : realpathSync(resolve(volume));
  const reporter = new Reporter({ verb: 'backup', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const madeDefault = prepareDefaultRepository(place, values);
  const password = await readPassword(values, place, place.location);
  const hostname = values.host ?? keyOwner().hostname;
  return runInRepository(values, reporter, { place, password, create: madeDefault ? 'unless-exists' : false }, async ({ io, pool, repository, lock }, { created }) => {
    if (madeDefault) noteDefaultRepository(reporter, place, values, created);
    const listing = values.force ? { records: [], damaged: [] } : await repository.listSnapshots();
    reportDamagedSnapshots(reporter, listing.damaged, 'warning');
    const candidates = listing.records.filter((record) => record.snapshot.hostname === hostname && record.snapshot.volume !== undefined);
    const result = await backupVolume(io, repository, source, {
      tags: tagsToAdd(values.tag),
      hostname,
      username: keyOwner().username,
      pool,
      candidates,
      beforeSnapshot: async () => lock?.assertHeld('save snapshot'),
      onProgress: (progress) => reporter.status({ ...progress }, (seconds) => volumeProgressLine(progress, seconds)),
    });
    const { summary, volume: metadata } = result.snapshot;
    reporter.summary(
      { snapshot: result.snapshotId, parent: result.snapshot.parent, source, blocksRead: metadata.blocksRead, blocksUnchanged: metadata.blocksUnchanged, bytesRead: metadata.bytesRead, reason: metadata.reason, granularityBytes: metadata.granularityBytes, sizeBytes: metadata.sizeBytes, ...summary },
      `snapshot ${result.snapshotId.slice(0, 8)} saved: volume of ${formatBytes(metadata.sizeBytes)}, ${metadata.blocksRead} blocks read (${formatBytes(metadata.bytesRead)}), ${metadata.blocksUnchanged} unchanged in ${formatDuration(summary.durationMs / 1000)}, ${formatBytes(summary.rawBytesAdded)} new (${formatBytes(summary.storedBytesAdded)} stored); ${metadata.reason}`,
    );
    return exitCodes.ok;
  });
}

/**
 * Each PATH made absolute with its links resolved (as the snapshot stores it), or, for a PATH
 * that does not exist or cannot be reached, the error that names it. As restic, those are
 * reported and the others backed up (exit code 3); with none left there is nothing to back up.
 */
function sourcePaths(given: readonly string[]): { paths: string[]; missing: HoldfastError[] } {
  const paths: string[] = [];
  const missing: HoldfastError[] = [];
  for (const path of given) {
    const absolute = resolve(path);
    try {
      paths.push(realpathSync(absolute));
    } catch (error) {
      const reason = fromNodeError(error, 'realpath', { operation: 'back up', path: absolute });
      if (!(reason instanceof HoldfastError)) throw error;
      missing.push(reason);
    }
  }
  return { paths, missing };
}

/**
 * The tags of the new snapshot, as restic: "--tag a,b" adds a and b (a filter's "--tag a,b" then
 * asks for both); each tag once, in the order given, without empty ones.
 */
function tagsToAdd(options: readonly string[]): string[] {
  return [...new Set(options.flatMap((option) => option.split(',')).map((tag) => tag.trim()).filter((tag) => tag !== ''))];
}

/**
 * Says, once, where the embedded default repository and its key file are: when this backup made
 * them, or found them just made by another backup that started at the same moment.
 */
function noteDefaultRepository(reporter: Reporter, place: RepositoryPlace, values: RepositoryValues, created: boolean): void {
  const which = created ? 'the default one' : 'the default one, which another holdfast made at the same moment';
  reporter.note(
    created ? 'created' : 'existing',
    { repository: place.location, keyFile: passwordGiven(values) ? null : place.defaultKeyFile },
    `holdfast: no repository was configured, so this backup goes to ${which}:\n  repository: ${place.location}\n  ${defaultRepositorySecret(place, values)}\nSet HOLDFAST_REPOSITORY or --repo to use another.`,
  );
}

function volumeProgressLine(progress: VolumeBackupProgress, seconds: number): string {
  return `${progress.blocksDone}/${progress.blocksTotal} blocks, ${formatBytes(progress.bytesRead)} read, ${formatBytes(progress.bytesRead / seconds)}/s`;
}

function progressLine(progress: BackupProgress, seconds: number): string {
  const rate = progress.dataBytes / seconds;
  const total = progress.estimatedDataBytes;
  const eta = total !== null && rate > 0 && total > progress.dataBytes ? `, ETA ${formatDuration((total - progress.dataBytes) / rate)}` : '';
  return `${progress.files} files, ${formatBytes(progress.dataBytes)}${total === null ? '' : ` of ~${formatBytes(total)}`}, ${formatBytes(rate)}/s${eta}  ${displayPath(Buffer.from(progress.currentPath))}`;
}
