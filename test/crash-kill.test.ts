/**
 * Crash consistency as a user meets it: a kill -9 at any moment of a backup (first and
 * incremental) leaves a repository that `check --read-data` accepts, whose snapshot files all
 * load; the backup then runs to completion and `restore latest` gives the source back with zero
 * differences. (The key verbs: test/crash-kill-keys.test.ts; forget, prune and repair:
 * test/crash-kill-maintenance.test.ts; three files so that each stays well inside the runner's
 * five minutes per file on a busy machine.)
 *
 * How: src/test-support/kill-loop.ts runs the real CLI in its own process, measures one unkilled
 * run, then kills it with SIGKILL after delays drawn from fixed seeds in [0, 1.2 x that
 * duration], four times per operation; after each kill the real `check --read-data` runs and
 * must pass, and its count of snapshots must be the number of snapshot files; a killed backup
 * added no snapshot or exactly one, and the source changes between runs (a new small file each
 * run, a new large file after each finished backup). After the last kill the operation completes,
 * `snapshots --json` lists exactly the snapshot files, and compareTrees() (Python, no holdfast
 * code) finds zero differences between the source and `restore latest`. The soak (npm run
 * soak:kill) does the same with 50 kills per operation and a larger source. A failure prints its
 * seed and delay; HOLDFAST_KILL_OPERATION=<name> HOLDFAST_KILL_SEED=<seed> replays it.
 *
 * "The next backup reuses chunks already stored" is its own test: a backup of 48 MiB of random
 * data is killed as soon as its first pack is in data/ (polled; not at a time), check passes,
 * and the finished backup must then store fewer raw bytes than the source: no index names the
 * killed backup's pack (index files are written every 64 packs and at the end), so the next
 * backup finds it by its header (src/engine/reused-packs.ts) and reuses its chunks.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Prng } from '../src/base/prng.js';
import { packBytesTarget } from '../src/repo/pack-writer.js';
import { cleanEnvironment, jsonLines, repositoryCounts, runUntil } from '../src/test-support/kill-loop.js';
import { defineKillLoopTests } from '../src/test-support/kill-loop-tests.js';
import { randomBytesFrom } from '../src/test-support/kill-operations.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

/** The kill is polled for; a backup may finish between two polls, and is then made again. */
const killAttemptsMax = 5;

defineKillLoopTests({
  operations: ['backup (first)', 'backup (incremental)'],
  killsPerOperation: 4,
  // Above one pack (16 MiB), so a killed backup can leave a pack before its end.
  sizes: { backupSourceBytes: 20 * 1024 * 1024, otherSourceBytes: 256 * 1024 },
});

test('a backup killed after its first pack is durable: the next backup reuses the chunks already stored', async (t) => {
  using directory = temporaryDirectory();
  const source = join(directory.path, 'source');
  const repository = join(directory.path, 'repository');
  const env = cleanEnvironment({ HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: 'password', XDG_CACHE_HOME: join(directory.path, 'cache') });
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const run = await runHoldfast(args, { env });
    assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
    return run;
  };
  await mkdir(source);
  // Random data: nothing deduplicates within it, so storing less than it is reuse.
  const sourceBytes = 3 * packBytesTarget;
  await writeFile(join(source, 'large.bin'), randomBytesFrom(new Prng(0x5eed), sourceBytes));
  let killedWithPack = false;
  for (let attempt = 0; attempt < killAttemptsMax && !killedWithPack; attempt++) {
    await rm(repository, { recursive: true, force: true });
    await ok(['init']);
    const run = await runUntil(['backup', source], env, async () => (await repositoryCounts(repository)).packs > 0);
    const counts = await repositoryCounts(repository);
    killedWithPack = run.killed && counts.packs > 0 && counts.snapshots === 0;
    t.diagnostic(`attempt ${attempt}: ${run.killed ? 'killed' : `exited ${run.exitCode}`} with ${counts.packs} packs and ${counts.snapshots} snapshots`);
  }
  assert.ok(killedWithPack, `no backup was killed between its first pack and its snapshot in ${killAttemptsMax} attempts`);
  const check = await ok(['check', '--read-data', '--json']);
  t.diagnostic(String(jsonLines(check).find((line) => line['type'] === 'summary')?.['unreferencedPacks'] ?? '?') + ' packs in no index after the kill');
  const summary = jsonLines(await ok(['backup', source, '--json'])).find((line) => line['type'] === 'summary')!;
  await ok(['check', '--read-data']);
  assert.ok(Number(summary['rawBytesAdded']) < sourceBytes, `the finished backup stored ${String(summary['rawBytesAdded'])} raw bytes (${String(summary['chunksAdded'])} chunks) of a ${sourceBytes}-byte source: the killed backup's pack was not reused`);
});
