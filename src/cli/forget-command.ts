/**
 * holdfast forget [SNAPSHOT-ID...] [--keep-* ...] [--group-by host,paths,tags] [--dry-run]
 *                 [--prune] [--host H] [--tag T] [--path P] [repository options]
 *
 * Removes snapshot files, as restic's forget: the ids given, or what a retention policy
 * (engine/forget-policy.ts) does not keep, group by group. Only the snapshot files go; the data
 * they alone referenced stays until prune. A policy without any keep rule is refused rather than
 * taken to mean "remove everything". A snapshot file that cannot be read (damaged, or not a
 * snapshot of this repository) is named and left alone: a policy never counts it, nor removes it.
 */
import { parseArgs } from 'node:util';
import {
  applyPolicy,
  emptyPolicy,
  groupSnapshots,
  isEmptyPolicy,
  parseGroupBy,
  parseKeepCount,
  parseKeepDuration,
  parseTagList,
  type ForgetPolicy,
  type SnapshotRecord,
} from '../api/internal.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { Reporter } from './reporter.js';
import { pruneOptionSpec, runPrune } from './prune-command.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';
import { matchesFilter, parseSnapshotFilter, reportDamagedSnapshots, snapshotFilterOptionSpec, snapshotFilterUsage, snapshotsById } from './snapshot-filter.js';
import { printTable } from './snapshots-command.js';

export const forgetUsage = `Usage: holdfast forget [SNAPSHOT-ID...] [--keep-last N] [--keep-hourly N] [--keep-daily N]
                       [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]
                       [--keep-within DURATION] [--keep-tag TAG[,TAG...]]...
                       [--group-by host,paths,tags] [--dry-run] [--prune]
                       [--host H] [--tag T] [--path P]

Removes the snapshots given by id (short ids too), or those a policy does not keep. The
snapshots (those the filter selects) are split into groups with the same host and paths (or
what --group-by names; "" for one group), and each group keeps, newest first:
  --keep-last N          the N newest snapshots
  --keep-hourly N        the newest of each of the N newest hours that have a snapshot
  --keep-daily N         ... days        --keep-weekly N    ... ISO weeks (Monday to Sunday)
  --keep-monthly N       ... months      --keep-yearly N    ... years (all in local time)
                         N may be "unlimited" (or -1): one for every hour, day, week...
                         While a count is left, the group's oldest snapshot is kept too.
  --keep-within D        every snapshot newer than the group's newest minus D (7d, 2w, 1m,
                         1y, 12h, or combined: 1y6m); m is months
  --keep-tag T[,T...]    every snapshot that has all these tags (may repeat: any list)
A policy needs at least one --keep-* option. Lists, per group, what is kept and why and what
is removed. --dry-run removes nothing. Only the snapshot files are removed: run prune (or give
--prune, which takes prune's --repack-unused and --wait-for-operations) to free the data only
they referenced. With --json, one object. A snapshot file that cannot be read is named, neither
counted nor removed, and the exit code is 3 (and --prune is not run: prune needs every snapshot).

${snapshotFilterUsage}
${repositoryOptionsUsage}`;

interface ForgetGroup {
  /** What the group's snapshots share; null for snapshots given by id. */
  key: { hostname?: string; paths?: string[]; tags?: string[] } | null;
  keep: { record: SnapshotRecord; reasons: string[] }[];
  remove: SnapshotRecord[];
}

export async function forgetCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...repositoryOptionSpec,
      ...snapshotFilterOptionSpec,
      'keep-last': { type: 'string' },
      'keep-hourly': { type: 'string' },
      'keep-daily': { type: 'string' },
      'keep-weekly': { type: 'string' },
      'keep-monthly': { type: 'string' },
      'keep-yearly': { type: 'string' },
      'keep-within': { type: 'string' },
      'keep-tag': { type: 'string', multiple: true, default: [] },
      'group-by': { type: 'string', default: 'host,paths' },
      'dry-run': { type: 'boolean', short: 'n', default: false },
      prune: { type: 'boolean', default: false },
      ...pruneOptionSpec,
    },
  });
  if (values.help) {
    process.stdout.write(forgetUsage);
    return exitCodes.ok;
  }
  const count = (option: 'keep-last' | 'keep-hourly' | 'keep-daily' | 'keep-weekly' | 'keep-monthly' | 'keep-yearly'): number => {
    const text = values[option];
    return text === undefined ? 0 : parseKeepCount(`--${option}`, text);
  };
  const policy: ForgetPolicy = {
    ...emptyPolicy,
    keepLast: count('keep-last'),
    keepHourly: count('keep-hourly'),
    keepDaily: count('keep-daily'),
    keepWeekly: count('keep-weekly'),
    keepMonthly: count('keep-monthly'),
    keepYearly: count('keep-yearly'),
    keepWithin: values['keep-within'] === undefined ? null : parseKeepDuration(values['keep-within']),
    keepTags: values['keep-tag'].map(parseTagList),
  };
  const groupBy = parseGroupBy(values['group-by']);
  const filter = parseSnapshotFilter(values);
  const place = repositoryPlace(values);
  if (positionals.length > 0 && !isEmptyPolicy(policy)) throw new UsageError('give snapshot ids or --keep-* options, not both');
  if (positionals.length === 0 && isEmptyPolicy(policy)) {
    throw holdfastError('HOLDFAST_USAGE', { operation: 'forget snapshots in', path: place.location }, 'no policy was specified, no snapshots will be removed; give a --keep-* option or snapshot ids');
  }
  const reporter = new Reporter({ verb: 'forget', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const password = await readPassword(values, place, place.location);
  let damaged = 0;
  const status = await runInRepository(values, reporter, { place, password, loadIndex: false }, async ({ repository }) => {
    const listing = positionals.length > 0 ? { records: [], damaged: [] } : await repository.listSnapshots();
    reportDamagedSnapshots(reporter, listing.damaged, 'skipped');
    damaged = listing.damaged.length;
    const groups =
      positionals.length > 0
        ? [{ key: null, keep: [], remove: await snapshotsById(repository, positionals) }]
        : groupSnapshots(
            listing.records.filter((record) => matchesFilter(filter, record.snapshot)).map((record) => ({ ...record.snapshot, id: record.id, record })),
            groupBy,
          ).map((group): ForgetGroup => {
            const decision = applyPolicy(group.snapshots, policy, Date.now());
            return { key: group.key, keep: decision.keep.map((kept) => ({ record: kept.snapshot.record, reasons: kept.reasons })), remove: decision.remove.map((removed) => removed.record) };
          });
    const removed: string[] = [];
    if (!values['dry-run']) {
      for (const group of groups) {
        for (const record of group.remove) {
          await repository.backend.remove('snapshots', record.id);
          removed.push(record.id);
        }
      }
    }
    const wouldRemove = groups.reduce((total, group) => total + group.remove.length, 0);
    if (values.json) process.stdout.write(`${JSON.stringify({ type: 'forget', dryRun: values['dry-run'], policy: positionals.length > 0 ? null : describePolicy(policy), groups: groups.map(groupJson), removed })}\n`);
    else printGroups(groups, positionals.length > 0 ? null : describePolicy(policy), values['dry-run'] ? `dry run: ${plural(wouldRemove)} would be removed; nothing was removed` : `removed ${plural(removed.length)}`);
    return damaged > 0 ? exitCodes.partial : exitCodes.ok;
  });
  if (status === exitCodes.partial && damaged > 0 && values.prune) {
    process.stderr.write(`holdfast forget: --prune was not run: ${damaged === 1 ? 'a snapshot file cannot' : `${damaged} snapshot files cannot`} be read, and prune must know what every snapshot uses\n`);
  }
  if (status !== exitCodes.ok || !values.prune) return status;
  // The prune runs in a session of its own, under its own lock (docs/concurrency.md).
  if (values['dry-run']) {
    process.stderr.write('holdfast forget: --prune does nothing in a dry run (run "holdfast prune --dry-run" after a real forget)\n');
    return status;
  }
  return runPrune(values, false);
}

function describePolicy(policy: ForgetPolicy): string {
  const counts: [number, string][] = [
    [policy.keepLast, 'last'],
    [policy.keepHourly, 'hourly'],
    [policy.keepDaily, 'daily'],
    [policy.keepWeekly, 'weekly'],
    [policy.keepMonthly, 'monthly'],
    [policy.keepYearly, 'yearly'],
  ];
  const parts = counts.filter(([count]) => count !== 0).map(([count, name]) => `${count === -1 ? 'all' : count} ${name}`);
  const kept = parts.length === 0 ? [] : [`${parts.join(', ')} snapshots`];
  if (policy.keepWithin !== null) kept.push(`those within ${policy.keepWithin.text} of the newest`);
  if (policy.keepTags.length > 0) kept.push(`those tagged ${policy.keepTags.map((list) => list.join(',')).join(' or ')}`);
  return `keep ${kept.join(', and ')}`;
}

function snapshotJson(record: SnapshotRecord): Record<string, unknown> {
  const { time, hostname, username, paths, tags } = record.snapshot;
  return { id: record.id, shortId: record.id.slice(0, 8), time, hostname, username, paths, tags };
}

function groupJson(group: ForgetGroup): Record<string, unknown> {
  return { key: group.key, keep: group.keep.map((kept) => ({ ...snapshotJson(kept.record), reasons: kept.reasons })), remove: group.remove.map(snapshotJson) };
}

function printGroups(groups: readonly ForgetGroup[], policy: string | null, summary: string): void {
  if (policy !== null) process.stdout.write(`applying policy: ${policy}\n`);
  const row = (record: SnapshotRecord, reasons: string): string[] => [
    record.id.slice(0, 8),
    record.snapshot.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    record.snapshot.hostname,
    record.snapshot.tags.join(','),
    reasons,
    record.snapshot.paths.join(' '),
  ];
  for (const group of groups) {
    process.stdout.write(`\n${groupTitle(group)}\n`);
    if (group.key !== null) {
      process.stdout.write(`keep ${plural(group.keep.length)}:\n`);
      if (group.keep.length > 0) printTable(['ID', 'Time', 'Host', 'Tags', 'Reasons', 'Paths'], group.keep.map((kept) => row(kept.record, kept.reasons.join(', '))));
    }
    process.stdout.write(`remove ${plural(group.remove.length)}:\n`);
    if (group.remove.length > 0) printTable(['ID', 'Time', 'Host', 'Tags', 'Paths'], group.remove.map((record) => row(record, '').filter((_, column) => column !== 4)));
  }
  process.stdout.write(`\n${summary}\n`);
}

function groupTitle(group: ForgetGroup): string {
  if (group.key === null) return 'snapshots given by id:';
  const parts: string[] = [];
  if (group.key.hostname !== undefined) parts.push(`host "${group.key.hostname}"`);
  if (group.key.paths !== undefined) parts.push(`paths ${group.key.paths.map((path) => `"${path}"`).join(' ')}`);
  if (group.key.tags !== undefined) parts.push(group.key.tags.length === 0 ? 'no tags' : `tags "${group.key.tags.join(',')}"`);
  return parts.length === 0 ? 'all snapshots:' : `snapshots of ${parts.join(', ')}:`;
}

function plural(count: number): string {
  return `${count} snapshot${count === 1 ? '' : 's'}`;
}
