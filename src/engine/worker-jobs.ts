/**
 * The module each worker thread of a repository session runs: the repository's jobs (sealing and
 * opening blobs, repo/pack-jobs.ts) and the file jobs of a backup (stat-ing names and reading
 * small files with blocking calls, io/node/read-files-sync.ts; used through file-batches.ts).
 */
import { lstatNamesSync, readFilesSync, type FileToRead } from '../io/node/read-files-sync.js';
import { serveJobs } from '../pool/worker-runtime.js';
import { packJobs } from '../repo/pack-jobs.js';

export interface LstatNamesJob {
  directory: Uint8Array;
  /** NUL-separated (joinNames()). */
  names: Uint8Array;
}

export interface ReadFilesJob {
  /** NUL-separated (joinNames()). */
  paths: Uint8Array;
  files: FileToRead[];
}

serveJobs({
  ...packJobs,
  lstatNames: (payload: LstatNamesJob) => ({ result: lstatNamesSync(payload.directory, payload.names) }),
  readFiles: (payload: ReadFilesJob) => {
    const read = readFilesSync(payload.paths, payload.files);
    return { result: read, transfer: [read.data] };
  },
});
