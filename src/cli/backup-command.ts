/**
 * holdfast backup PATH... [--tag T] [--host H] [--exclude GLOB] [--exclude-file F]
 *                 [--one-file-system] [--dry-run] [--force] [repository options]
 * holdfast backup --volume URI|IMAGE [--tag T] [--host H] [--force] [repository options]
 */
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { backup, backupVolume, displayPath, isNbdUri, OwnerNames, type BackupProgress, type SnapshotRecord, type VolumeBackupProgress } from '../api/index.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { compileGlobs } from './globs.js';
import { formatBytes, formatDuration, Reporter } from './reporter.js';
import { keyOwner, prepareDefaultRepository, readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository, type RepositoryPlace, type RepositoryValues } from './repository-options.js';

export const backupUsage = `Usage: holdfast backup PATH... [--tag TAG]... [--host NAME] [--exclude GLOB]...
                       [--exclude-file FILE] [--one-file-system] [--dry-run] [--force]
       holdfast backup --volume URI|IMAGE [--tag TAG]... [--host NAME] [--force]

Stores each PATH, with every part of every file, as a new snapshot. Files whose device, inode,
size, mtime and ctime match the last snapshot of the same paths and host are not read again
(--force reads everything). Unreadable files are skipped and reported; the snapshot is still
written and the exit code is 3. GLOB matches a name (no "/") or a path below a PATH ("a/*.o").
With no repository configured, the embedded default is created and used.

--volume stores a block volume as a snapshot (tagged "volume") with one sparse file: an NBD
export (nbd+unix:///EXPORT?socket=PATH or nbd://HOST[:PORT]/EXPORT) or an image file. Holes
and all-zero blocks are not stored. From a snapshot export of "holdfast volume serve" whose
previous snapshot was backed up last, only the blocks its change map marks are read; otherwise
every data block is (the summary's "reason" says why). A writable export is refused: take a
snapshot first with "holdfast volume snapshot". Restore with "restore SNAPSHOT --volume-target IMAGE".

${repositoryOptionsUsage}`;

export async function backupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...repositoryOptionSpec,
      tag: { type: 'string', multiple: true, default: [] },
      host: { type: 'string' },
      exclude: { type: 'string', multiple: true, default: [] },
      'exclude-file': { type: 'string', multiple: true, default: [] },
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
    if (values.exclude.length > 0 || values['exclude-file'].length > 0 || values['one-file-system'] || values['dry-run']) throw new UsageError('--exclude, --exclude-file, --one-file-system and --dry-run do not apply to --volume');
    return volumeBackupCommand(values, values.volume);
  }
  if (positionals.length === 0) throw new UsageError('give at least one PATH to back up');
  const patterns = [...values.exclude];
  for (const file of values['exclude-file']) patterns.push(...readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#')));
  const excluded = compileGlobs(patterns);
  const paths = positionals.map((path) => realpathSync(resolve(path)));
  const reporter = new Reporter({ verb: 'backup', json: values.json, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const madeDefault = prepareDefaultRepository(place);
  const password = await readPassword(values, place, place.location);
  const hostname = values.host ?? keyOwner().hostname;
  return runInRepository(values, reporter, { place, password, create: madeDefault }, async ({ io, pool, repository, lock, signal }) => {
    if (madeDefault) noteDefaultRepository(reporter, place);
    const sortedPaths = [...paths].sort().join('\0');
    let parent: SnapshotRecord | null = null;
    if (!values.force) {
      parent = (await repository.listSnapshots()).filter((record) => record.snapshot.hostname === hostname && [...record.snapshot.paths].sort().join('\0') === sortedPaths).at(-1) ?? null;
    }
    const result = await backup(io, repository, paths, {
      paths,
      tags: values.tag,
      hostname,
      username: keyOwner().username,
      ownerNames: await OwnerNames.load(),
      pool,
      parent,
      oneFileSystem: values['one-file-system'],
      exclude: (name) => excluded(name.toString('utf8')),
      dryRun: values['dry-run'],
      beforeSnapshot: async () => lock?.assertHeld('save snapshot'),
      signal,
      onProblem: (path, error) => reporter.problem('skipped', path, error),
      onProgress: (progress) => reporter.status({ ...progress }, (seconds) => progressLine(progress, seconds)),
    });
    const summary = result.snapshot.summary;
    const id = result.snapshotId;
    reporter.summary(
      { snapshot: id, parent: parent?.id ?? null, dryRun: values['dry-run'], ...summary },
      `${id === null ? 'dry run: would have stored' : `snapshot ${id.slice(0, 8)} saved:`} ${summary.files} files (${summary.filesUnchanged} unchanged), ${formatBytes(summary.dataBytes)} of data, ${formatBytes(summary.rawBytesAdded)} new (${formatBytes(summary.storedBytesAdded)} stored)${summary.problems > 0 ? `, ${summary.problems} problems` : ''}`,
    );
    return summary.problems > 0 ? exitCodes.partial : exitCodes.ok;
  });
}

async function volumeBackupCommand(values: RepositoryValues & { tag: string[]; host?: string | undefined; force: boolean }, volume: string): Promise<number> {
  // An image's path is made absolute (and its links resolved), so the next backup finds its parent.
  const source = isNbdUri(volume) ? volume : realpathSync(resolve(volume));
  const reporter = new Reporter({ verb: 'backup', json: values.json, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const madeDefault = prepareDefaultRepository(place);
  const password = await readPassword(values, place, place.location);
  const hostname = values.host ?? keyOwner().hostname;
  return runInRepository(values, reporter, { place, password, create: madeDefault }, async ({ io, pool, repository, lock }) => {
    if (madeDefault) noteDefaultRepository(reporter, place);
    const candidates = values.force ? [] : (await repository.listSnapshots()).filter((record) => record.snapshot.hostname === hostname && record.snapshot.volume !== undefined);
    const result = await backupVolume(io, repository, source, {
      tags: values.tag,
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
      `snapshot ${result.snapshotId.slice(0, 8)} saved: volume of ${formatBytes(metadata.sizeBytes)}, ${metadata.blocksRead} blocks read (${formatBytes(metadata.bytesRead)}), ${metadata.blocksUnchanged} unchanged, ${formatBytes(summary.rawBytesAdded)} new (${formatBytes(summary.storedBytesAdded)} stored); ${metadata.reason}`,
    );
    return exitCodes.ok;
  });
}

/** Says, once, where the embedded default repository and its key file are. */
function noteDefaultRepository(reporter: Reporter, place: RepositoryPlace): void {
  reporter.note(
    'created',
    { repository: place.location, keyFile: place.defaultKeyFile },
    `holdfast: no repository was configured, so this backup goes to the default one:\n  repository: ${place.location}\n  key file:   ${place.defaultKeyFile} (mode 0600; keep a copy somewhere safe: without it the backups cannot be read)\nSet HOLDFAST_REPOSITORY or --repo to use another.`,
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
