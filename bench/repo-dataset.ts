/**
 * What bench/repo-backup.ts knows of each layout of bench/make-dataset.py (whose docstring is the
 * layouts' definition): how much room a tree of it takes, how a restored copy is recognized under
 * a restore target, which sparse file it holds, and how its JSON reports read in the results.
 *
 * The sizes are generous estimates for the space check, not measurements: a file takes at least
 * one 4 KiB block on disk, so 100,000 files of 100-3,000 bytes take about 400 MiB, not 148 MiB.
 */
const mebibyte = 1024 * 1024;
const gibibyte = 1024 * mebibyte;

export const datasetNames = ['standard', 'small-files'] as const;
export type DatasetName = (typeof datasetNames)[number];

export interface DatasetShape {
  /** Disk space of one tree at scale 1, generously (the data set, the restored copy). */
  treeBytesPerScale: number;
  /** Disk space of one tool's repository at scale 1, generously (its three snapshots). */
  repositoryBytesPerScale: number;
  /** The sparse file's apparent size at scale 1: restic and borg restore it filled. */
  sparseApparentBytesPerScale: number;
  /** Files and directories of one tree at scale 1, generously, after the 1% change: one inode each. */
  entriesPerScale: number;
  /** Paths relative to the data set's root that only its root holds: how a restored tree is found. */
  rootMarkers: readonly string[];
  /** The sparse file whose allocated size after restore is reported, if the layout has one. */
  sparsePath: string | undefined;
}

export const datasetShapes: Readonly<Record<DatasetName, DatasetShape>> = {
  // About 1,010 MiB in 5,310 files and about 70 directories at scale 1.
  standard: { treeBytesPerScale: 1.1 * gibibyte, repositoryBytesPerScale: 1.1 * gibibyte, sparseApparentBytesPerScale: 1 * gibibyte, entriesPerScale: 5_500, rootMarkers: ['large', 'text'], sparsePath: 'sparse/disk.img' },
  // 100,000 files (101,000 at most after the change) and 2,857 directories, about 402 MiB on disk;
  // the repository holds the 148 MiB of data, half of it compressible, and 100,000 tree entries.
  'small-files': { treeBytesPerScale: 0.45 * gibibyte, repositoryBytesPerScale: 0.25 * gibibyte, sparseApparentBytesPerScale: 0, entriesPerScale: 104_000, rootMarkers: ['g000/d00'], sparsePath: undefined },
};

export function parseDatasetName(text: string): DatasetName {
  const name = datasetNames.find((candidate) => candidate === text);
  if (name === undefined) throw new Error(`Cannot use data set "${text}": expected one of ${datasetNames.join(', ')}`);
  return name;
}

type Report = Record<string, unknown>;

const mib = (bytes: unknown): string => ((Number(bytes) || 0) / mebibyte).toFixed(0);
const kib = (bytes: unknown): string => ((Number(bytes) || 0) / 1024).toFixed(0);

/** One line on what `make-dataset.py generate` made, from its JSON report. */
export function describeGenerated(name: DatasetName, generated: Report): string {
  const head = `${String(generated['fileCount'])} files`;
  if (name === 'small-files') return `${head} of 100-3,000 bytes (half text, half random bytes) in ${String(generated['directoryCount'])} directories, ${mib(generated['dataBytes'])} MiB of data`;
  const sparse = (generated['sparse'] ?? {}) as Record<string, number>;
  return (
    `${head}, ${mib(generated['dataBytes'])} MiB of data ` +
    `(a sparse file of ${mib(sparse['apparentBytes'])} MiB apparent with ${String(sparse['extentCount'])} extents of ${((sparse['extentBytes'] ?? 0) / mebibyte).toFixed(1)} MiB)`
  );
}

/** One line on what `make-dataset.py change` did, from its JSON report. */
export function describeChange(name: DatasetName, change: Report): string {
  const head = `${String(change['changedFileCount'])} of ${String(change['fileCountBefore'])} files: `;
  const rewritten = name === 'standard' ? `${String(change['largeRewrittenCount'])} large files with a ${String(change['regionBytes'])}-byte region rewritten, ` : '';
  const kind = name === 'standard' ? 'text files' : 'files';
  return (
    `${head}${rewritten}${String(change['appendedCount'])} ${kind} appended to, ${String(change['touchedCount'])} touched (mtime only), ` +
    `${String(change['createdCount'])} created, ${String(change['deletedCount'])} deleted; ${kib(change['writtenBytes'])} KiB written`
  );
}
