/**
 * The module each worker thread of a repository session runs: the repository's jobs (sealing and
 * opening blobs, repo/pack-jobs.ts), the file jobs of a backup (stat-ing names and reading small
 * files with blocking calls, io/node/read-files-sync.ts; used through file-batches.ts) and of a
 * restore (creating small files, io/node/create-files-sync.ts; used through restore-batches.ts).
 */
import { createFilesSync, type NewFile } from '../io/node/create-files-sync.js';
import { lstatNamesSync, readFilesSync, scanDirectorySync, type FileToRead } from '../io/node/read-files-sync.js';
import { serveJobs } from '../pool/worker-runtime.js';
import { packJobs } from '../repo/pack-jobs.js';

export interface LstatNamesJob {
  directory: Uint8Array;
  /** NUL-separated (joinNames()). */
  names: Uint8Array;
}

export interface ScanDirectoryJob {
  directory: Uint8Array;
  statsMax: number;
}

export interface ReadFilesJob {
  /** NUL-separated (joinNames()). */
  paths: Uint8Array;
  files: FileToRead[];
}

export interface CreateFilesJob {
  /** Io.lendDirectory()'s path of the held directory. */
  directory: Uint8Array;
  /** NUL-separated (joinNames()). */
  names: Uint8Array;
  files: NewFile[];
  /** The files' bytes one after another. */
  data: ArrayBuffer;
}

serveJobs({
  ...packJobs,
  scanDirectory: (payload: ScanDirectoryJob) => ({ result: scanDirectorySync(payload.directory, payload.statsMax) }),
  lstatNames: (payload: LstatNamesJob) => ({ result: lstatNamesSync(payload.directory, payload.names) }),
  readFiles: (payload: ReadFilesJob) => {
    const read = readFilesSync(payload.paths, payload.files);
    return { result: read, transfer: [read.data] };
  },
  createFiles: (payload: CreateFilesJob) => ({ result: createFilesSync(payload.directory, payload.names, payload.files, payload.data) }),
});
