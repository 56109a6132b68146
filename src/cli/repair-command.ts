/**
 * holdfast repair index
 * holdfast repair snapshots [--forget] [--dry-run]           [repository options]
 *
 * Both hold the repository's exclusive lock: nothing else runs while the index or the snapshots
 * are rewritten.
 */
import { parseArgs } from 'node:util';
import { repairIndex, repairSnapshots } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';

export const repairUsage = `Usage: holdfast repair index
       holdfast repair snapshots [--forget] [--dry-run]

repair index rebuilds the index from the packs: it reads every pack's own header, writes new
index files that name every blob of every readable pack, and only then removes the old index
files. A pack whose header cannot be read keeps the entries the old index gave it, if any;
otherwise it is named and its blobs are no longer indexed. Exit code 3 when such a pack lost
its blobs, else 0.

repair snapshots writes each snapshot that needs a blob no index names, or whose tree cannot
be read, again without the files it cannot restore (named on stderr), tagged "repaired".
--forget then removes the original (without it both are kept); --dry-run only says what it
would do. Run "repair index" first, and "check --read-data" to find blobs that are indexed but
damaged (remove their pack, then repair the index and the snapshots). Exit code 3 when a
snapshot file itself cannot be read (it is left as it is), else 0.

${repositoryOptionsUsage}`;

export async function repairCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, forget: { type: 'boolean', default: false }, 'dry-run': { type: 'boolean', default: false } },
  });
  if (values.help) {
    process.stdout.write(repairUsage);
    return exitCodes.ok;
  }
  const what = positionals[0];
  if (positionals.length !== 1 || (what !== 'index' && what !== 'snapshots')) throw new UsageError('give what to repair: "index" or "snapshots"');
  if (what === 'index' && (values.forget || values['dry-run'])) throw new UsageError('--forget and --dry-run are for "repair snapshots"');
  const reporter = new Reporter({ verb: `repair ${what}`, json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  const session = { place, password, lock: 'exclusive' as const, loadIndex: what === 'snapshots' };
  if (what === 'index') {
    return runInRepository(values, reporter, session, async ({ repository, lock }) => {
      const summary = await repairIndex(repository, {
        onProblem: (subject, message) => reporter.problem('skipped', subject, message),
        onProgress: (done, total) => reporter.status({ stage: 'read pack headers', done, total }, () => `read pack headers: ${done} of ${total}`),
        beforeRemove: async () => lock?.assertHeld('remove the old index files'),
      });
      reporter.summary(
        { ...summary },
        `indexed ${summary.blobsIndexed} blobs of ${summary.packsRead + summary.packsKeptFromOldIndex} packs in ${summary.indexFilesWritten} index files; removed ${summary.indexFilesRemoved} old ones${summary.packsLost > 0 ? `; ${summary.packsLost} packs could not be read` : ''}`,
      );
      return summary.packsLost > 0 ? exitCodes.partial : exitCodes.ok;
    });
  }
  const dryRun = values['dry-run'];
  return runInRepository(values, reporter, session, async ({ repository, lock }) => {
    const summary = await repairSnapshots(repository, {
      forget: values.forget,
      dryRun,
      onLeftOut: (id, path, reason) => reporter.note('left-out', { snapshot: id, path, reason }, `snapshot ${id.slice(0, 8)}: left out ${path}: ${reason}`),
      onDamagedTree: (id, treeId, error) =>
        reporter.note('tree-unreadable', { snapshot: id, tree: treeId, message: error.message }, `snapshot ${id.slice(0, 8)}: tree ${treeId.slice(0, 16)} cannot be read, its entries are left out: ${error.message}`),
      onUnreadable: (id, error) => reporter.problem('skipped', `snapshot ${id.slice(0, 8)}`, error),
      onRepaired: (repair) => {
        const became = repair.repairedId !== null ? `repaired as ${repair.repairedId.slice(0, 8)}` : dryRun ? 'would be repaired' : 'nothing readable is left, no repaired snapshot written';
        const forgotten = repair.forgotten ? (dryRun ? '; the original would be removed' : '; the original is removed') : '; the original is kept';
        reporter.note('repaired', { ...repair, dryRun }, `snapshot ${repair.id.slice(0, 8)}: ${became} (${repair.entriesLeftOut} entries left out, ${repair.treesUnreadable} trees unreadable)${forgotten}`);
      },
      beforeChange: async () => lock?.assertHeld('save repaired snapshots'),
    });
    reporter.summary(
      { ...summary, dryRun },
      `${summary.snapshotsDamaged} of ${summary.snapshots} snapshots needed repair; ${summary.snapshotsWritten} ${dryRun ? 'would be ' : ''}written, ${summary.snapshotsForgotten} ${dryRun ? 'would be ' : ''}removed`,
    );
    return summary.snapshotsUnreadable > 0 ? exitCodes.partial : exitCodes.ok;
  });
}
