/**
 * FileBatches (source/file-batches.ts) on the repository's worker threads: each batch is one
 * traced job (rule W1) of worker-jobs.ts, whose blocking calls stand in for a round trip through
 * libuv's pool per call. Only for the real machine's file system: the session that made the
 * node Io hands these out (repository-session.ts), and the simulator never gets them.
 */
import { displayPath, joinPath } from '../base/file-path.js';
import { SystemCallError } from '../errors/holdfast-error.js';
import type { FileStat } from '../io/file-stat.js';
import { joinNames, splitNames, type FileBatchRead, type LstatOutcome, type ScannedDirectory as ScanResult } from '../io/node/read-files-sync.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import { scanStatsMax, type BatchedFile, type FileBatches, type FileToBatch, type ScannedDirectory } from '../source/file-batches.js';
import type { LstatNamesJob, ReadFilesJob, ScanDirectoryJob } from './worker-jobs.js';

/**
 * Files up to this size are read in batches. Larger ones gain nothing (their bytes, not their
 * calls, take the time) and would make a batch hold much memory.
 */
export const batchedFileBytesMax = 256 * 1024;

export function workerFileBatches(workers: WorkerPool): FileBatches {
  return {
    fileBytesMax: batchedFileBytesMax,
    async scan(directory: Buffer): Promise<ScannedDirectory> {
      const job: ScanDirectoryJob = { directory: new Uint8Array(directory), statsMax: scanStatsMax };
      const scanned = await workers.run<ScanResult>('scanDirectory', {}, job);
      const names = splitNames(scanned.names);
      return {
        names,
        stats: scanned.outcomes === null ? null : scanned.outcomes.map((outcome, index) => lstatOutcome(outcome, directory, names[index]!)),
        extras: scanned.extras === null ? null : scanned.extras.map((extras) => (extras === null ? null : { xattrs: extras.xattrs.map(({ name, value }) => ({ name, value: Buffer.from(value) })), linkTarget: extras.linkTarget === null ? null : Buffer.from(extras.linkTarget) })),
      };
    },
    async lstat(directory: Buffer, names: readonly Buffer[]): Promise<(FileStat | Error)[]> {
      const job: LstatNamesJob = { directory: new Uint8Array(directory), names: joinNames(names) };
      const outcomes = await workers.run<LstatOutcome[]>('lstatNames', { names: names.length }, job);
      return outcomes.map((outcome, index) => lstatOutcome(outcome, directory, names[index]!));
    },
    async read(files: readonly FileToBatch[]): Promise<BatchedFile[]> {
      const job: ReadFilesJob = {
        paths: joinNames(files.map((file) => file.path)),
        files: files.map(({ stat }) => ({ device: stat.device, inode: stat.inode, sizeBytes: stat.sizeBytes })),
      };
      let bytes = 0;
      for (const { stat } of files) bytes += stat.sizeBytes;
      const read = await workers.run<FileBatchRead>('readFiles', { files: files.length, bytes }, job);
      const data = Buffer.from(read.data);
      return read.outcomes.map((outcome, index): BatchedFile => {
        const { path, stat } = files[index]!;
        switch (outcome.kind) {
          case 'read':
            return { kind: 'read', xattrs: outcome.xattrs.map(({ name, value }) => ({ name, value: Buffer.from(value) })), data: data.subarray(outcome.offsetBytes, outcome.offsetBytes + stat.sizeBytes), after: outcome.after };
          case 'failed':
            return { kind: 'failed', error: new SystemCallError(outcome.errno, outcome.syscall, { operation: outcome.syscall === 'open' ? 'open' : 'read', path: displayPath(path) }) };
          default:
            return outcome;
        }
      });
    },
  };
}

function lstatOutcome(outcome: LstatOutcome, directory: Buffer, name: Buffer): FileStat | Error {
  return 'stat' in outcome ? outcome.stat : new SystemCallError(outcome.errno, 'lstat', { operation: 'stat', path: displayPath(joinPath(directory, name)) });
}
