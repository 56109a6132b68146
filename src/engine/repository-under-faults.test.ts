/**
 * Rules W2 and D1 for the repository: a backup through the real repository classes on the
 * simulated file system, under ENOSPC, EIO, short writes and late completions, is cut by a crash
 * at a random point (unsynced data lost or torn, uncommitted names lost). On what the disk kept:
 * the repository opens, the real checker reads every pack and blob and finds no problem, every
 * snapshot listed loads whole and gives back the source's bytes, a backup that had finished
 * before the crash is still there, and a second backup succeeds, storing only the blobs that no
 * stored pack held (indexed, or named only by the header of a pack the crash left unindexed).
 *
 * How: per seed, a Simulation holds a small source tree (files under the chunker's minimum, so
 * each is one chunk whatever the random chunker key; one file twice, some compressible) and a
 * repository made by Repository.init over LocalBackend(sim.io). backup() (engine/backup.ts: the
 * walker, Chunker, BlobSaver, PackWriter, TreeWriter, saveSnapshot) runs with faults for a random
 * number of simulated calls, then the machine crashes. One worker thread (started once for the
 * file) seals and opens blobs; its jobs are tracked by the simulation, so the simulated calls
 * interleave the same way for a seed however fast the machine is. A failure prints its seed;
 * HOLDFAST_SIM_SEED=<seed> replays the fault schedule and the crash point (keys, nonces and pack
 * names still come from node:crypto, so the bytes differ from run to run, not the sizes or the
 * order of the calls before the crash; after it, faults are off).
 *
 * The process that crashed never closes its handles: the HOLDFAST_HANDLE_LEAKED warnings printed
 * when they are collected are expected. A backup that ended before the crash must have closed
 * every file and left no temporary file; that is asserted. (This file is in engine/, not repo/,
 * because it runs engine/backup.ts and engine/check.ts, and repo/ may not import engine/.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { displayPath } from '../base/file-path.js';
import { HoldfastError } from '../errors/holdfast-error.js';
import { BufferPool } from '../io/buffer-pool.js';
import { forEachSeed, type Simulation } from '../io/sim/simulation.js';
import type { FaultRates } from '../io/sim/sim-backend.js';
import { siblingModuleUrl } from '../pool/sibling-module-url.js';
import { WorkerPool } from '../pool/worker-pool.js';
import type { JobParams } from '../pool/worker-protocol.js';
import { LocalBackend } from '../repo/backend/local-backend.js';
import { testKdfParameters } from '../repo/key-file.js';
import { Repository } from '../repo/repository.js';
import { snapshotEntries } from '../repo/tree-reader.js';
import { OwnerNames } from '../source/owner-names.js';
import { TraceRecorder } from '../trace/trace-recorder.js';
import { backup, type BackupResult } from './backup.js';
import { adoptUnindexedPacks } from './reused-packs.js';
import { checkRepository, type CheckProblem } from './check.js';

const faults: Partial<FaultRates> = { late: 0.1, shortRead: 0.05, shortWrite: 0.1, ioError: 0.03, noSpace: 0.03 };
const sourceRoot = '/source';
const repositoryPath = '/repository';
const password = Buffer.from('simulated password');
/** Under the chunker's 512 KiB minimum: one chunk per file, whatever the chunker key. */
const fileBytesMax = 160 * 1024;
const fileCountMax = 5;
/**
 * A backup of the source takes about 320 to 460 simulated calls (some 260 of them list data/'s
 * 256 directories for packs no index names, before anything is written); crashes fall in 0..this.
 */
const crashStepsMax = 480;
/** With fewer seeds (a replay), the test does not ask that every outcome was seen. */
const seedsForCoverage = 20;

let workers: WorkerPool;
let ownerNames: OwnerNames;

before(async () => {
  ownerNames = await OwnerNames.load();
  workers = await WorkerPool.start({ name: 'simulated repository workers', workerUrl: siblingModuleUrl(import.meta.url, 'worker-jobs'), workerCount: 1, recorder: new TraceRecorder() });
});

after(async () => {
  await workers.close();
});

/** The pool as the repository sees it, its jobs tracked by the simulation (see the file comment). */
function trackedWorkers(simulation: Simulation): WorkerPool {
  const tracked = Object.create(workers) as WorkerPool;
  tracked.run = <Result>(kind: string, params: JobParams, payload: unknown, transfer?: ArrayBuffer[]): Promise<Result> => simulation.outside(workers.run<Result>(kind, params, payload, transfer));
  return tracked;
}

/** Files made durable on the simulated disk: name (as in a snapshot, "source/f0") -> bytes. */
function makeSource(simulation: Simulation): Map<string, Buffer> {
  const { prng } = simulation;
  const fileSystem = simulation.backend.fileSystem;
  fileSystem.create(sourceRoot, 'directory');
  const contents = new Map<string, Buffer>();
  const count = 2 + prng.nextInt(fileCountMax - 1);
  for (let index = 0; index < count; index++) {
    const bytes = Buffer.alloc(prng.nextInt(fileBytesMax));
    if (prng.chance(0.5)) prng.fill(bytes);
    else bytes.fill(`compressible line ${index}\n`);
    contents.set(`source/f${index}`, bytes);
  }
  contents.set('source/copy-of-f0', contents.get('source/f0')!); // stored once
  for (const [name, bytes] of contents) {
    const inode = fileSystem.create(`/${name}`, 'file');
    fileSystem.write(inode, 0, bytes);
    fileSystem.syncFile(inode);
  }
  fileSystem.syncNames();
  return contents;
}

/** Names below `directory` on the simulated disk that begin with ".tmp-". */
function temporaryFiles(simulation: Simulation, directory: string): string[] {
  const fileSystem = simulation.backend.fileSystem;
  return fileSystem.list(directory).flatMap((name) => {
    const path = `${directory}/${name}`;
    if (name.startsWith('.tmp-')) return [path];
    return fileSystem.lookup(path)?.kind === 'directory' ? temporaryFiles(simulation, path) : [];
  });
}

/** One simulated process's view of the repository: its own buffers, backend and opened repository. */
async function openRepository(simulation: Simulation): Promise<Repository> {
  const pool = new BufferPool({ bufferSizeBytes: 64 * 1024, bufferCountMax: 8 });
  const repository = await Repository.open(new LocalBackend(simulation.io, repositoryPath, pool), password, { workers: trackedWorkers(simulation) });
  return repository;
}

function runBackup(simulation: Simulation, repository: Repository, problems: string[]): Promise<BackupResult> {
  const pool = new BufferPool({ bufferSizeBytes: 64 * 1024, bufferCountMax: 4 });
  return backup(simulation.io, repository, [sourceRoot], {
    paths: [sourceRoot],
    tags: [],
    hostname: 'simulated',
    username: 'simulated',
    ownerNames,
    pool,
    parent: null,
    onProblem: (path, error) => problems.push(`${path}: ${error.message}`),
  });
}

/** check --read-data finds nothing; every snapshot loads whole and gives back the source. Returns the snapshot ids. */
async function checkWhole(repository: Repository, contents: Map<string, Buffer>, when: string): Promise<string[]> {
  const problems: CheckProblem[] = [];
  const summary = await checkRepository(repository, { readData: true, onProblem: (problem) => problems.push(problem) });
  assert.deepEqual(problems, [], `${when}: check found problems`);
  assert.equal(summary.packsRead, summary.packs, `${when}: check did not read every pack`);
  const { records: snapshots, damaged } = await repository.listSnapshots();
  assert.deepEqual(damaged, [], `${when}: a snapshot file cannot be read`);
  for (const { id, snapshot } of snapshots) {
    for await (const entry of snapshotEntries(repository, snapshot)) {
      if (entry.header.type !== 'file') continue;
      const name = displayPath(entry.header.path);
      const expected = contents.get(name);
      assert.ok(expected !== undefined, `${when}: snapshot ${id.slice(0, 8)} has a file the source never had: ${name}`);
      const blobs = await Promise.all(entry.chunks.map((chunk) => repository.loadBlob(chunk.id)));
      assert.ok(Buffer.concat(blobs).equals(expected), `${when}: snapshot ${id.slice(0, 8)} gives other bytes for ${name}`);
    }
  }
  return snapshots.map((record) => record.id);
}

test('a backup cut by a crash under faults leaves a repository that checks, and the next backup reuses every blob already stored', async (t) => {
  const outcomes = { completed: 0, failed: 0, crashed: 0, reusedBlobs: 0 };
  const seeds = await forEachSeed(40, { idleWaitMsMax: 60_000 }, async (simulation) => {
    const contents = makeSource(simulation);
    const initPool = new BufferPool({ bufferSizeBytes: 64 * 1024, bufferCountMax: 8 });
    await Repository.init(new LocalBackend(simulation.io, repositoryPath, initPool), password, { kdf: testKdfParameters, hostname: 'simulated', username: 'simulated', workers: trackedWorkers(simulation) });

    // The first backup, under faults, until it ends or the machine loses power.
    const first = await openRepository(simulation);
    await first.loadIndex();
    simulation.setFaults(faults);
    const firstProblems: string[] = [];
    let firstResult: BackupResult | null = null;
    let firstError: unknown = null;
    const work = runBackup(simulation, first, firstProblems).then(
      (result) => {
        firstResult = result;
      },
      (error: unknown) => {
        firstError = error;
      },
    );
    const crash = simulation.crashAfter(simulation.prng.nextInt(crashStepsMax));
    await Promise.race([work, crash]);
    if (simulation.cancelCrash()) {
      // The backup ended first, failed or not: it must have closed every file it opened. Then the power goes.
      assert.deepEqual(simulation.violations, [], 'a call reached a closed or recycled fd');
      assert.equal(simulation.backend.openCount, 0, `the backup ended (${firstError === null ? 'completed' : String(firstError)}) with files still open`);
      assert.deepEqual(temporaryFiles(simulation, repositoryPath), [], 'a failed save left its temporary file');
      simulation.crash();
    }
    if (firstError !== null) {
      outcomes.failed++;
      assert.ok(firstError instanceof HoldfastError, `the failed backup threw something without a code: ${String(firstError)}`);
    } else if (firstResult !== null) {
      outcomes.completed++;
    } else {
      outcomes.crashed++;
    }
    simulation.setFaults({});

    // A new process on what the disk kept.
    const reopened = await openRepository(simulation);
    await reopened.loadIndex();
    const snapshotIds = await checkWhole(reopened, contents, 'after the crash');
    const finished = firstResult as BackupResult | null;
    if (finished?.snapshotId !== null && finished !== null) {
      assert.ok(snapshotIds.includes(finished.snapshotId!), 'the backup finished before the crash, and its snapshot was lost');
    }

    // The second backup: it must succeed, and store exactly the blobs the index lacked. `before`
    // keeps the index as the second backup found it.
    const before = await openRepository(simulation);
    await before.loadIndex();
    // What is stored: the indexed blobs, and those of packs a crash left unindexed, which a
    // backup adopts from their headers as the second backup below does.
    await adoptUnindexedPacks(before);
    const second = await openRepository(simulation);
    await second.loadIndex();
    const secondProblems: string[] = [];
    const result = await runBackup(simulation, second, secondProblems);
    assert.deepEqual(secondProblems, [], 'the second backup, without faults, had problems');
    const blobIds = new Set<string>(result.snapshot.trees);
    for await (const entry of snapshotEntries(second, result.snapshot)) for (const chunk of entry.chunks) blobIds.add(chunk.id.toString('hex'));
    const lacking = [...blobIds].filter((id) => !before.index.has(Buffer.from(id, 'hex')));
    assert.equal(result.snapshot.summary.chunksAdded, lacking.length, 'the second backup stored other blobs than those no stored pack held');
    if (finished !== null) assert.equal(lacking.length, 0, 'the first backup finished, yet its blobs were not all indexed');
    const third = await openRepository(simulation);
    await third.loadIndex();
    const idsAfter = await checkWhole(third, contents, 'after the second backup');
    assert.ok(idsAfter.includes(result.snapshotId!), 'the second snapshot is not listed');
    assert.equal(idsAfter.length, snapshotIds.length + 1);
    outcomes.reusedBlobs += blobIds.size - result.snapshot.summary.chunksAdded;
  });
  t.diagnostic(`${seeds} seeds: ${JSON.stringify(outcomes)}`);
  // The runs must really cover the cases, or the test shows little (a replay of one seed aside).
  if (seeds >= seedsForCoverage) {
    assert.ok(outcomes.crashed > seeds / 10 && outcomes.failed > seeds / 10 && outcomes.completed > seeds / 10, `too few runs crashed mid-way, failed or completed: ${JSON.stringify(outcomes)}`);
    // Half a blob a seed on average: one more file operation in init (the create-only config)
    // shifts every later random choice, and 40 seeds then reused 30 blobs instead of 43.
    assert.ok(outcomes.reusedBlobs > seeds / 2, `too few blobs were reused: ${JSON.stringify(outcomes)}`);
  }
});
