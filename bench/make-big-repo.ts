/**
 * Builds a holdfast repository with many index entries (default 10,000,000 tiny data blobs), for
 * bench/scale.ts to measure check and prune on (not a test). Everything is written with the real
 * code: the repository is made by Repository.init (through withRepository), data packs by worker
 * threads with the real codecs (big-repo-worker.ts: sealBlob, the sealed pack header, encodeIndex),
 * stored by the real backend in D1 order (a pack, then the index file that names it), and two
 * snapshots whose trees go through the real TreeWriter, BlobSaver and PackWriter. So it is a
 * repository `holdfast check --read-data` accepts and `holdfast restore` restores.
 *
 * Layout (big-repo-layout.ts): blob i is 16 bytes (u64 i, "HFBIGREP"), stored as 45; packs of
 * `blobsPerPack` blobs (default 100,000: 4.5 MB), one index file per pack (like restic's index
 * files, which hold at most 50,000 blobs); snapshot 0 uses the blobs with i % 5 in {0,1,2},
 * snapshot 1 those with i % 5 in {2,3,4}, in files of `chunksPerFile` chunks (default 100) under
 * big/d<n>/f<n>, 1,000 files a directory. Forgetting either snapshot leaves every pack 60% used.
 *
 * Run:  node --import tsx bench/make-big-repo.ts --repo DIR [--blobs N] [--blobs-per-pack N] [--chunks-per-file N]
 * or HOLDFAST_BIG_BLOBS, HOLDFAST_BIG_BLOBS_PER_PACK, HOLDFAST_BIG_CHUNKS_PER_FILE (argv wins).
 * The password is HOLDFAST_PASSWORD (default "bench"); the key uses the cheapest allowed KDF.
 * DIR must not hold a repository yet. Prints one JSON line: what it made and how long it took.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { bigBlobBytes, bigRootName, directoryName, filesPerDirectory, snapshotFiles, snapshotResidues } from './big-repo-layout.js';
import type { BigPackJob, BigPackResult } from './big-repo-worker.js';
import { withRepository } from '../src/engine/repository-session.js';
import type { SnapshotSummary } from '../src/format/repo/snapshot-codec.js';
import { emptyEntryHeader } from '../src/format/entry.js';
import type { TreeEntry } from '../src/format/repo/tree-codec.js';
import { WorkerPool } from '../src/pool/worker-pool.js';
import { BlobSaver } from '../src/repo/blob-saver.js';
import { testKdfParameters } from '../src/repo/key-file.js';
import { PackWriter } from '../src/repo/pack-writer.js';
import type { Repository } from '../src/repo/repository.js';
import { TreeWriter } from '../src/repo/tree-writer.js';
import { TraceRecorder } from '../src/trace/trace-recorder.js';

const blobIdBytes = 32;
const blobsMax = 100_000_000;
/** The index format allows 1,000,000 blobs a pack. */
const blobsPerPackMax = 1_000_000;
const chunksPerFileMax = 100_000;
/** Pack jobs queued per worker, so that a worker never waits for the main thread to store. */
const packJobsPerWorker = 2;
/** 2024-01-01T00:00:00Z and a day later: the two snapshots' times and their files' mtimes. */
const snapshotTimesMs = [Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 2)];

export interface BigRepositorySettings {
  location: string;
  password: string;
  blobCount: number;
  blobsPerPack: number;
  chunksPerFile: number;
}

export interface BigRepositoryReport {
  location: string;
  blobs: number;
  packs: number;
  indexFiles: number;
  snapshots: string[];
  treeBlobs: number;
  dataSeconds: number;
  treeSeconds: number;
  workers: number;
}

function readSettings(): BigRepositorySettings {
  const { values } = parseArgs({ options: { repo: { type: 'string' }, blobs: { type: 'string' }, 'blobs-per-pack': { type: 'string' }, 'chunks-per-file': { type: 'string' } } });
  const env = process.env;
  const integer = (text: string, name: string, max: number): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`Cannot use ${name} ${text}: expected an integer from 1 to ${max}`);
    return value;
  };
  const location = values.repo ?? env['HOLDFAST_REPOSITORY'];
  if (location === undefined) throw new Error('Cannot build a repository without --repo DIR');
  return {
    location: resolve(location),
    password: env['HOLDFAST_PASSWORD'] ?? 'bench',
    blobCount: integer(values.blobs ?? env['HOLDFAST_BIG_BLOBS'] ?? '10000000', 'blobs', blobsMax),
    blobsPerPack: integer(values['blobs-per-pack'] ?? env['HOLDFAST_BIG_BLOBS_PER_PACK'] ?? '100000', 'blobs per pack', blobsPerPackMax),
    chunksPerFile: integer(values['chunks-per-file'] ?? env['HOLDFAST_BIG_CHUNKS_PER_FILE'] ?? '100', 'chunks per file', chunksPerFileMax),
  };
}

export async function makeBigRepository(settings: BigRepositorySettings): Promise<BigRepositoryReport> {
  const recorder = new TraceRecorder();
  const create = { hostname: 'bench', username: 'bench', kdf: testKdfParameters };
  try {
    return await withRepository({ location: settings.location, password: Buffer.from(settings.password), recorder, create }, async ({ repository }) => {
      const workerCount = Math.max(1, availableParallelism());
      const dataStarted = performance.now();
      const { ids, packs } = await writeDataPacks(repository, settings, workerCount, recorder);
      const dataSeconds = (performance.now() - dataStarted) / 1000;
      const treeStarted = performance.now();
      const snapshots: string[] = [];
      let treeBlobs = 0;
      let indexFiles = packs;
      for (let snapshot = 0; snapshot < snapshotResidues.length; snapshot++) {
        const written = await writeSnapshot(repository, settings, ids, snapshot);
        snapshots.push(written.id);
        treeBlobs += written.treeBlobs;
        indexFiles += written.indexFiles;
      }
      const treeSeconds = (performance.now() - treeStarted) / 1000;
      return { location: settings.location, blobs: settings.blobCount, packs, indexFiles, snapshots, treeBlobs, dataSeconds, treeSeconds, workers: workerCount };
    });
  } finally {
    recorder.close();
  }
}

/** Every data blob, in packs made on worker threads; returns the blob ids (32 bytes each, in order). */
async function writeDataPacks(repository: Repository, settings: BigRepositorySettings, workerCount: number, recorder: TraceRecorder): Promise<{ ids: Buffer; packs: number }> {
  const ids = Buffer.alloc(settings.blobCount * blobIdBytes);
  const workers = await WorkerPool.start({ name: 'big repository workers', workerUrl: new URL('./big-repo-worker.ts', import.meta.url), workerCount, recorder });
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  let packs = 0;
  try {
    for (let firstBlob = 0; firstBlob < settings.blobCount && failure === null; firstBlob += settings.blobsPerPack) {
      while (inFlight.size >= workerCount * packJobsPerWorker) await Promise.race(inFlight);
      const blobCount = Math.min(settings.blobsPerPack, settings.blobCount - firstBlob);
      const job: BigPackJob = { encryptionKey: repository.master.encryptionKey, idKey: repository.master.idKey, firstBlob, blobCount };
      const storing = workers
        .run<BigPackResult>('pack', { firstBlob, blobCount }, job)
        .then(async (result) => {
          Buffer.from(result.ids).copy(ids, firstBlob * blobIdBytes);
          // D1: the pack is durable before the index file that names it is written.
          await repository.backend.save('data', result.packName, new Uint8Array(result.pack));
          await repository.saveSealed('index', Buffer.from(result.indexPlaintext));
          packs++;
          if (packs % 10 === 0) process.stderr.write(`make-big-repo: ${packs} packs, ${Math.min(settings.blobCount, packs * settings.blobsPerPack)} blobs\n`);
        })
        .catch((error: unknown) => {
          failure ??= error;
        });
      inFlight.add(storing);
      void storing.finally(() => inFlight.delete(storing));
    }
    await Promise.all(inFlight);
  } finally {
    await workers.close();
  }
  if (failure !== null) throw failure;
  return { ids, packs };
}

/** One snapshot's trees, through the real TreeWriter / BlobSaver / PackWriter, and the snapshot. */
async function writeSnapshot(repository: Repository, settings: BigRepositorySettings, ids: Buffer, snapshot: number): Promise<{ id: string; treeBlobs: number; indexFiles: number }> {
  const started = performance.now();
  const packer = new PackWriter(repository);
  const saver = new BlobSaver(repository, packer);
  const trees = new TreeWriter(saver, repository.master.chunkerKey);
  const mtimeNs = BigInt(snapshotTimesMs[snapshot]!) * 1_000_000n;
  const directory = (path: string): TreeEntry => ({ header: { ...emptyEntryHeader(Buffer.from(path), 'directory'), mtimeNs }, chunks: [], device: 0n, inode: 0n });
  await trees.add(directory(bigRootName));
  let files = 0;
  let dataBytes = 0;
  for (const file of snapshotFiles(snapshot, settings.blobCount, settings.chunksPerFile)) {
    if (file.fileNumber % filesPerDirectory === 0) await trees.add(directory(directoryName(file.fileNumber)));
    const chunks = file.blobIndexes.map((index) => ({ id: ids.subarray(index * blobIdBytes, (index + 1) * blobIdBytes), rawBytes: bigBlobBytes }));
    const sizeBytes = chunks.length * bigBlobBytes;
    await trees.add({ header: { ...emptyEntryHeader(Buffer.from(file.path), 'file'), sizeBytes, mtimeNs }, chunks, device: 0n, inode: 0n });
    files++;
    dataBytes += sizeBytes;
  }
  const treeIds = await trees.finish();
  await saver.drain();
  await packer.finish();
  const directories = 1 + Math.ceil(files / filesPerDirectory);
  const summary: SnapshotSummary = {
    entries: files + directories,
    files,
    dataBytes,
    filesUnchanged: 0,
    chunksAdded: 0,
    rawBytesAdded: saver.counts.rawBytesAdded,
    storedBytesAdded: saver.counts.storedBytesAdded,
    problems: 0,
    durationMs: Math.round(performance.now() - started),
  };
  const id = await repository.saveSnapshot({
    version: 1,
    time: new Date(snapshotTimesMs[snapshot]!).toISOString(),
    hostname: 'bench',
    username: 'bench',
    paths: [`/${bigRootName}`],
    tags: [`big-${snapshot}`],
    parent: null,
    trees: treeIds,
    summary,
  });
  return { id, treeBlobs: treeIds.length, indexFiles: packer.summary.indexFiles };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const report = await makeBigRepository(readSettings());
  process.stdout.write(`${JSON.stringify({ ...report, seconds: (performance.now() - started) / 1000 })}\n`);
}
