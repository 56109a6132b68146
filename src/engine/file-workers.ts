/**
 * Worker threads for the verbs that work on files without a repository (export, import): a
 * directory's small files read, or created, many at a time (file-batches.ts, restore-batches.ts),
 * as a repository session's workers do for backup and restore. The pool is closed, after every
 * job has settled, before the promise of withFileWorkers() settles.
 */
import { availableParallelism } from 'node:os';
import type { Io } from '../io/io.js';
import { siblingModuleUrl } from '../pool/sibling-module-url.js';
import { WorkerPool } from '../pool/worker-pool.js';
import type { FileBatches } from '../source/file-batches.js';
import type { RestoreBatches } from '../streams/restore-batches.js';
import { TraceRecorder } from '../trace/trace-recorder.js';
import { workerFileBatches } from './file-batches.js';
import { workerRestoreBatches } from './restore-batches.js';

export interface FileWorkers {
  fileBatches: FileBatches;
  restoreBatches: RestoreBatches;
}

export async function withFileWorkers<T>(io: Io, body: (workers: FileWorkers) => Promise<T>, recorder: TraceRecorder = new TraceRecorder()): Promise<T> {
  const workers = await WorkerPool.start({ name: 'file workers', workerUrl: siblingModuleUrl(import.meta.url, 'worker-jobs'), workerCount: Math.max(1, availableParallelism()), recorder });
  try {
    return await body({ fileBatches: workerFileBatches(workers), restoreBatches: workerRestoreBatches(io, workers) });
  } finally {
    await workers.close();
  }
}
