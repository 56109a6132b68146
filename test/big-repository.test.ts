/**
 * The synthetic repository of bench/make-big-repo.ts is a real holdfast repository, and check
 * (which now holds the index in a BlobTable and streams the index files) still finds and traces
 * damage in it.
 *
 * How: make-big-repo.ts runs as a process with 30,000 blobs in packs of 4,000 (8 data packs, 8
 * index files). `holdfast check --read-data` must accept it and open every blob; `holdfast
 * restore` (which loads the index through the streaming Repository.loadIndex) must give every
 * file of the first snapshot with exactly the bytes the layout says. Then one data pack is moved
 * out of the repository: check must fail, say the pack is missing, and list as damaged exactly the
 * files that have a chunk in one 4,000-blob range, in both snapshots.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bigBlobPlaintext, snapshotFiles, snapshotResidues } from '../bench/big-repo-layout.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const blobCount = 30_000;
const blobsPerPack = 4_000;
const chunksPerFile = 50;
const makeScript = new URL('../bench/make-big-repo.ts', import.meta.url).pathname;
/** A full data pack: 4,000 stored blobs of 45 bytes, the sealed header (12 + 42 per blob + 28), its length. */
const dataPackBytes = blobsPerPack * 45 + (12 + 42 * blobsPerPack + 28) + 4;

function summaryOf(run: HoldfastRun): Record<string, unknown> {
  const lines = run.stdout.toString('utf8').trim().split('\n');
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

function packFiles(repository: string): { path: string; sizeBytes: number }[] {
  const data = join(repository, 'data');
  return readdirSync(data).flatMap((directory) => readdirSync(join(data, directory)).map((name) => ({ path: join(data, directory, name), sizeBytes: statSync(join(data, directory, name)).size })));
}

test('make-big-repo builds a repository that check accepts and restore restores, and check traces a lost pack', async (t) => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: 'bench', XDG_CACHE_HOME: join(directory.path, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const made = spawnSync(process.execPath, ['--import', 'tsx', makeScript, '--repo', repository, '--blobs', String(blobCount), '--blobs-per-pack', String(blobsPerPack), '--chunks-per-file', String(chunksPerFile)], { env, encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const report = JSON.parse(made.stdout.trim()) as { packs: number; indexFiles: number; snapshots: string[] };
  assert.equal(report.packs, Math.ceil(blobCount / blobsPerPack));
  const run = (args: string[]): Promise<HoldfastRun> => runHoldfast(args, { env });

  await t.test('check --read-data accepts it and opens every blob', async () => {
    const result = await run(['check', '--read-data', '--json']);
    assert.equal(result.exitCode, 0, result.stderr);
    const summary = summaryOf(result);
    assert.equal(summary['problems'], 0);
    assert.equal(summary['indexFiles'], report.indexFiles);
    assert.equal(summary['snapshots'], 2);
    // Every data blob, and the tree blobs on top.
    assert.ok(Number(summary['blobsRead']) > blobCount, `blobsRead ${String(summary['blobsRead'])}`);
  });

  await t.test('restore gives every file of the first snapshot with the bytes the layout says', async () => {
    const target = join(directory.path, 'restored');
    const result = await run(['restore', report.snapshots[0]!, '--target', target]);
    assert.equal(result.exitCode, 0, result.stderr);
    let files = 0;
    for (const file of snapshotFiles(0, blobCount, chunksPerFile)) {
      const expected = Buffer.concat(file.blobIndexes.map((index) => bigBlobPlaintext(index)));
      assert.ok(readFileSync(join(target, file.path)).equals(expected), `${file.path} differs`);
      files++;
    }
    assert.equal(files, Math.ceil((blobCount * 0.6) / chunksPerFile));
  });

  await t.test('check names the files that lose a chunk when a data pack is gone', async () => {
    const victim = packFiles(repository).find((pack) => pack.sizeBytes === dataPackBytes);
    assert.ok(victim !== undefined, `no pack of ${dataPackBytes} bytes`);
    renameSync(victim.path, join(directory.path, 'moved-pack'));
    const result = await run(['check', '--json']);
    assert.equal(result.exitCode, 1);
    const problems = result.stdout.toString('utf8').trim().split('\n').slice(0, -1).map((line) => JSON.parse(line) as Record<string, unknown>);
    const name = victim.path.split('/').at(-1)!;
    assert.ok(problems.some((problem) => JSON.stringify(problem).includes(name.slice(0, 16)) && JSON.stringify(problem).includes('is missing')), result.stdout.toString('utf8').slice(0, 2000));
    const summary = summaryOf(result);
    assert.deepEqual([...(summary['damagedSnapshots'] as string[])].sort(), [...report.snapshots].sort());
    const damaged = new Set((summary['damagedFiles'] as { snapshotId: string; path: string }[]).map((file) => `${file.snapshotId.slice(0, 8)} ${file.path}`));
    // Which 4,000-blob range was lost is not known from the pack's name: exactly one range must explain the list.
    const explaining = [];
    for (let first = 0; first < blobCount; first += blobsPerPack) {
      const expected = new Set<string>();
      for (let snapshot = 0; snapshot < snapshotResidues.length; snapshot++) {
        for (const file of snapshotFiles(snapshot, blobCount, chunksPerFile)) {
          if (file.blobIndexes.some((index) => index >= first && index < first + blobsPerPack)) expected.add(`${report.snapshots[snapshot]!.slice(0, 8)} ${file.path}`);
        }
      }
      if (expected.size === damaged.size && [...expected].every((key) => damaged.has(key))) explaining.push(first);
    }
    assert.equal(explaining.length, 1, `damaged files: ${[...damaged].slice(0, 5).join(', ')} (${damaged.size})`);
  });
});
