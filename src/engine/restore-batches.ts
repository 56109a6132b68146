/**
 * RestoreBatches (streams/restore-batches.ts) on the repository's worker threads: each batch is
 * one traced job (rule W1) of worker-jobs.ts, run while Io lends it the held directory, so the
 * handle cannot close under it (rule H1). Only for the real machine's file system; with the
 * simulator's Io, lendDirectory() gives nothing and the Restorer goes file by file.
 */
import { displayPath } from '../base/file-path.js';
import { SystemCallError } from '../errors/holdfast-error.js';
import type { Io } from '../io/io.js';
import type { NewFile, NewFileOutcome } from '../io/node/create-files-sync.js';
import { joinNames } from '../io/node/read-files-sync.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import type { CreatedFile, FileToCreate, RestoreBatches } from '../streams/restore-batches.js';
import type { CreateFilesJob } from './worker-jobs.js';

/** Files up to this size are created in batches (as a backup reads them: file-batches.ts). */
export const batchedRestoreBytesMax = 256 * 1024;

export function workerRestoreBatches(io: Io, workers: WorkerPool): RestoreBatches {
  return {
    fileBytesMax: batchedRestoreBytesMax,
    createFiles: (directory, files) =>
      io.lendDirectory(directory, async (path) => {
        let bytes = 0;
        for (const file of files) bytes += file.data.length;
        const data = new ArrayBuffer(bytes);
        let offset = 0;
        for (const file of files) {
          new Uint8Array(data, offset, file.data.length).set(file.data);
          offset += file.data.length;
        }
        const job: CreateFilesJob = { directory: new Uint8Array(path), names: joinNames(files.map((file) => file.name)), files: files.map(newFile), data };
        const outcomes = await workers.run<NewFileOutcome[]>('createFiles', { files: files.length, bytes }, job, [data]);
        // Named as Io names a file below a held directory (its errors read the same either way).
        return outcomes.map((outcome, index) => createdFile(outcome, `${directory.path}/${displayPath(files[index]!.name)}`));
      }),
  };
}

function newFile(file: FileToCreate): NewFile {
  return {
    sizeBytes: file.data.length,
    owner: file.owner,
    mode: file.mode,
    xattrsFirst: file.xattrsFirst.map(({ name, value }) => ({ name, value: new Uint8Array(value) })),
    acl: file.acl === null ? null : new Uint8Array(file.acl),
    xattrsLast: file.xattrsLast.map(({ name, value }) => ({ name, value: new Uint8Array(value) })),
    atimeNs: file.atimeNs,
    mtimeNs: file.mtimeNs,
  };
}

function createdFile(outcome: NewFileOutcome, shown: string): CreatedFile {
  switch (outcome.kind) {
    case 'created':
      return { kind: 'created', warnings: outcome.warnings.map(({ errno, syscall, operation }) => new SystemCallError(errno, syscall, { operation, path: shown })) };
    case 'failed':
      return { kind: 'failed', error: new SystemCallError(outcome.failure.errno, outcome.failure.syscall, { operation: outcome.failure.operation, path: shown }) };
    default:
      return outcome;
  }
}
