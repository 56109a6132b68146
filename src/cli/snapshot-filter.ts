/**
 * --host, --tag and --path: which snapshots a verb considers, as restic's snapshot filter.
 *
 * - --host NAME may repeat: a snapshot of any of these hosts.
 * - --tag "a,b" is one tag list: a snapshot that has both a and b. Several --tag options: any of
 *   the lists. --tag "" matches a snapshot without tags.
 * - --path PATH may repeat: a snapshot that has every one of these paths among its own (made
 *   absolute, as backup stores them), as restic's HasPaths.
 *
 * With no option given every snapshot matches. "latest" means the newest matching snapshot; an
 * explicit id names one snapshot whatever the filter says, as in restic.
 */
import { resolve } from 'node:path';
import { hasTags, parseTagList, type Repository, type Snapshot, type SnapshotRecord } from '../api/internal.js';
import { holdfastError, isErrorCode, type HoldfastError } from '../errors/holdfast-error.js';
import type { Reporter } from './reporter.js';

export const snapshotFilterOptionSpec = {
  host: { type: 'string', multiple: true, default: [] as string[] },
  tag: { type: 'string', multiple: true, default: [] as string[] },
  path: { type: 'string', multiple: true, default: [] as string[] },
} as const;

export const snapshotFilterUsage = `Snapshot filter (which snapshots "latest" and the listing consider):
  --host NAME            only snapshots of host NAME (may repeat: any of them)
  --tag TAG[,TAG...]     only snapshots with all of these tags (may repeat: any of the lists)
  --path PATH            only snapshots that include PATH (may repeat: all of them)
`;

export interface SnapshotFilterValues {
  host: string[];
  tag: string[];
  path: string[];
}

export interface SnapshotFilter {
  hosts: string[];
  tagLists: string[][];
  paths: string[];
}

export function parseSnapshotFilter(values: SnapshotFilterValues): SnapshotFilter {
  return { hosts: values.host, tagLists: values.tag.map(parseTagList), paths: values.path.map((path) => resolve(path)) };
}

export function isEmptyFilter(filter: SnapshotFilter): boolean {
  return filter.hosts.length === 0 && filter.tagLists.length === 0 && filter.paths.length === 0;
}

export function matchesFilter(filter: SnapshotFilter, snapshot: Snapshot): boolean {
  if (filter.hosts.length > 0 && !filter.hosts.includes(snapshot.hostname)) return false;
  if (filter.tagLists.length > 0 && !filter.tagLists.some((list) => hasTags(snapshot, list))) return false;
  return filter.paths.every((path) => snapshot.paths.includes(path));
}

/** "--host a --tag x,y --path /srv", for messages. */
export function describeFilter(filter: SnapshotFilter): string {
  return [...filter.hosts.map((host) => `--host ${host}`), ...filter.tagLists.map((list) => `--tag ${list.join(',')}`), ...filter.paths.map((path) => `--path ${path}`)].join(' ');
}

/**
 * The snapshot a SNAPSHOT argument names: "latest" is the newest that matches the filter; an id
 * (or a short id) is found among every snapshot. HOLDFAST_NO_SNAPSHOT when there is none. For
 * "latest", each damaged snapshot file is a warning: the newest intact one is used.
 */
export async function findFilteredSnapshot(repository: Repository, name: string, filter: SnapshotFilter, reporter: Reporter): Promise<SnapshotRecord> {
  const onDamaged = (error: HoldfastError): void => reportDamagedSnapshots(reporter, [error], 'warning');
  if (name !== 'latest' || isEmptyFilter(filter)) return repository.findSnapshot(name, { onDamaged });
  try {
    return await repository.findSnapshot(name, { filter: (snapshot) => matchesFilter(filter, snapshot), onDamaged });
  } catch (error) {
    if (!isErrorCode(error, 'HOLDFAST_NO_SNAPSHOT')) throw error;
    throw holdfastError('HOLDFAST_NO_SNAPSHOT', { operation: 'find snapshot', path: name, cause: error }, `no snapshot matches ${describeFilter(filter)}`);
  }
}

/** The snapshots the ids name, each once; HOLDFAST_NO_SNAPSHOT for an id that names none or several. */
export async function snapshotsById(repository: Repository, ids: readonly string[]): Promise<SnapshotRecord[]> {
  const found = new Map<string, SnapshotRecord>();
  for (const id of ids) {
    const record = await repository.findSnapshot(id);
    found.set(record.id, record);
  }
  return [...found.values()];
}

/**
 * Names each snapshot file left out because it cannot be trusted (its path, why, and the code):
 * `skipped` (counted: exit code 3) where the verb's output is a listing it is missing from,
 * `warning` where the verb went on with other snapshots and did all it was asked.
 */
export function reportDamagedSnapshots(reporter: Reporter, damaged: readonly HoldfastError[], kind: 'skipped' | 'warning'): void {
  for (const error of damaged) reporter.problem(kind, error.path, error);
}
