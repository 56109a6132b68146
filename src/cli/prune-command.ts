/**
 * holdfast prune [--dry-run] [--repack-unused PERCENT] [--wait-for-operations DURATION]
 */
import { parseArgs } from 'node:util';
import { pruneRepository, type PruneSummary } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { formatBytes, Reporter } from './reporter.js';
import { parseDuration, readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository, type RepositoryValues } from './repository-options.js';

export const pruneUsage = `Usage: holdfast prune [--dry-run] [--repack-unused PERCENT] [--wait-for-operations DURATION]

Gives back the space of data that no snapshot needs any more (after "holdfast forget"):
packs with nothing needed are deleted, and packs with more than PERCENT (default 10) of their
bytes unneeded, or small packs, are repacked. Backups may run at the same time: prune never
holds them off, and deletes packs only after every operation that began before it rewrote the
index has finished (waiting up to --wait-for-operations, default 10m; what it cannot delete yet
is left for the next prune). See docs/concurrency.md.

  --dry-run                        say what would be done, change nothing
  --repack-unused PERCENT          repack packs with more than this share unneeded (0-100)
  --wait-for-operations DURATION   how long to wait for older operations (30s, 10m, 1h)

${repositoryOptionsUsage}`;

export const pruneOptionSpec = {
  'repack-unused': { type: 'string' },
  'wait-for-operations': { type: 'string' },
} as const;

export interface PruneValues {
  'repack-unused'?: string | undefined;
  'wait-for-operations'?: string | undefined;
}

export async function pruneCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, ...pruneOptionSpec, 'dry-run': { type: 'boolean', default: false } },
  });
  if (values.help) {
    process.stdout.write(pruneUsage);
    return exitCodes.ok;
  }
  if (positionals.length > 0) throw new UsageError('prune takes no arguments');
  return runPrune(values, values['dry-run']);
}

/** The prune of `prune` and of `forget --prune`, in a session of its own (a prune lock). */
export async function runPrune(values: RepositoryValues & PruneValues, dryRun: boolean): Promise<number> {
  const percentText = values['repack-unused'] ?? '10';
  const repackUnusedPercent = Number(percentText.replace(/%$/, ''));
  if (!(repackUnusedPercent >= 0 && repackUnusedPercent <= 100)) throw new UsageError(`--repack-unused takes a percentage from 0 to 100, not "${percentText}"`);
  const waitText = values['wait-for-operations'];
  const waitForOperationsMs = waitText === undefined ? undefined : parseDuration(waitText, '--wait-for-operations');
  const reporter = new Reporter({ verb: 'prune', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, loadIndex: false, lock: 'prune' }, async ({ repository, lock, signal }) => {
    const summary = await pruneRepository(repository, {
      dryRun,
      repackUnusedPercent,
      ...(waitForOperationsMs === undefined ? {} : { waitForOperationsMs }),
      lock,
      signal,
      onProgress: (stage, done, total) => reporter.status({ stage, done, total }, () => `${stage}: ${done} of ${total}`),
      onNote: (message) => reporter.note('note', { message }, `holdfast: ${message}`),
    });
    if (values.json) reporter.summary({ dryRun, ...summary }, '');
    else process.stdout.write(describe(summary, dryRun));
    return exitCodes.ok;
  });
}

function describe(summary: PruneSummary, dryRun: boolean): string {
  const n = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
  const lines = [
    `${n(summary.snapshots, 'snapshot')} need ${summary.usedBlobs} of ${n(summary.blobs, 'blob')}: ${formatBytes(summary.usedBytes)} needed, ${formatBytes(summary.unusedBytes)} not needed, in ${n(summary.packs, 'pack')}`,
    `${dryRun ? 'would delete' : 'to delete'}: ${n(summary.dropPacks, 'pack')} (${formatBytes(summary.dropBytes)}), ${summary.unreferencedPacks} of them named by no index`,
    `${dryRun ? 'would repack' : 'to repack'}: ${n(summary.repackPacks, 'pack')}, copying ${formatBytes(summary.repackBytes)} still needed`,
    `${dryRun ? 'would free' : 'frees'}: ${formatBytes(summary.freedBytes)}`,
  ];
  if (!dryRun) {
    lines.push(`done: ${n(summary.newPacks, 'new pack')}, ${n(summary.indexFilesRewritten, 'index file')} rewritten, ${summary.deletedPacks} packs deleted`);
    if (summary.rescuedPacks > 0) lines.push(`kept ${n(summary.rescuedPacks, 'pack')} that operations running beside the prune indexed or use`);
    if (summary.packsLeftForLater > 0) lines.push(`left ${n(summary.packsLeftForLater, 'pack')}, no longer indexed, for the next prune (older operations were still running)`);
  }
  if (dryRun) lines.push('dry run: nothing was changed');
  return `${lines.join('\n')}\n`;
}
