/**
 * Ctrl-C during a backup stops it cleanly, wherever it lands: exit code 130 every time (never
 * 134, Node aborted by a worker thread ended under zstd's native code), no lock left behind, and
 * afterwards a backup without --retry-lock succeeds, reuses what the interrupted runs stored,
 * and `check --read-data` passes. A restore stopped by Ctrl-C exits 130 too, without reporting
 * the files it did not get to as unreadable.
 *
 * How: the real CLI backs up 48 MiB (half random, half compressible, so the zstd workers are
 * busy), always with --force so every run reads everything. One dry run (it seals but stores
 * nothing) measures how long a backup holds its lock; then each of the seeded SIGINTs is sent once the backup's lock file exists
 * (the session is open, the workers run), after a delay drawn from a fixed seed in
 * [0, 1.2 x that duration], so some land while packs are written and one may land after the
 * end (then the run must have exited 0, and the source gets new content, so that the next runs
 * store again). The seed and delay are in every failure message.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Prng } from '../src/base/prng.js';
import { cleanEnvironment, jsonLines, repositoryCounts } from '../src/test-support/kill-loop.js';
import { randomBytesFrom } from '../src/test-support/kill-operations.js';
import { runHoldfast, startHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const seed = Number(process.env['HOLDFAST_INTERRUPT_SEED'] ?? 0x5191_2a7e) >>> 0;
const interruptions = Number(process.env['HOLDFAST_INTERRUPT_COUNT'] ?? 5);
const fileBytes = 8 * 1024 * 1024;
const lockPollMs = 5;

function makeSource(root: string, random: Prng): number {
  mkdirSync(root, { recursive: true });
  let total = 0;
  for (let index = 0; index < 3; index++) {
    const noise = randomBytesFrom(random, fileBytes);
    writeFileSync(join(root, `random-${index}.bin`), noise);
    // Compressible: base64 of random bytes (zstd saves about a quarter of it).
    const text = Buffer.from(randomBytesFrom(random, (fileBytes / 4) * 3).toString('base64'));
    writeFileSync(join(root, `text-${index}.txt`), text);
    total += noise.length + text.length;
  }
  return total;
}

function lockFiles(repository: string): string[] {
  return readdirSync(join(repository, 'locks')).filter((name) => !name.startsWith('.tmp-'));
}

/** Starts a backup; resolves when its lock file exists (or it has exited), with the time that took. */
async function backupHoldingLock(repository: string, source: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<{ started: ReturnType<typeof startHoldfast>; exited: () => boolean }> {
  const started = startHoldfast(['backup', '--repo', repository, '--force', '--json', ...extra, source], { env });
  let exited = false;
  void started.done.finally(() => (exited = true));
  while (!exited && lockFiles(repository).length === 0) await new Promise((resolve) => setTimeout(resolve, lockPollMs));
  return { started, exited: () => exited };
}

function describe(run: HoldfastRun): string {
  return `exit ${run.exitCode}\n--- stderr\n${run.stderr.trim()}`;
}

test(`SIGINT at ${interruptions} seeded points of a backup exits 130 every time, leaves no lock, and the next backup reuses what was stored`, async (t) => {
  using work = temporaryDirectory();
  const repository = join(work.path, 'repository');
  const source = join(work.path, 'source');
  const random = new Prng(seed);
  const sourceBytes = makeSource(source, random);
  let sourceBytesNew = sourceBytes;
  const env = cleanEnvironment({ HOLDFAST_PASSWORD: 'interrupted', XDG_CACHE_HOME: join(work.path, 'cache') });
  const init = await runHoldfast(['init', '--repo', repository], { env });
  assert.equal(init.exitCode, 0, describe(init));

  // A dry run reads and seals everything but stores nothing: what the interrupted runs store is theirs.
  const measuring = await backupHoldingLock(repository, source, env, ['--dry-run']);
  const lockedAtMs = Date.now();
  const measured = await measuring.started.done;
  const lockedDurationMs = Date.now() - lockedAtMs;
  assert.equal(measured.exitCode, 0, describe(measured));
  t.diagnostic(`seed ${seed}: an uninterrupted backup holds its lock for ${lockedDurationMs} ms`);

  let interruptedMidway = 0;
  let before = await repositoryCounts(repository);
  for (let iteration = 0; iteration < interruptions; iteration++) {
    const delayMs = Math.round(random.nextFloat() * 1.2 * lockedDurationMs);
    const where = `iteration ${iteration}, SIGINT ${delayMs} ms after the lock was taken (seed ${seed})`;
    const { started, exited } = await backupHoldingLock(repository, source, env);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const signalled = !exited() && started.child.kill('SIGINT');
    const run = await started.done;
    assert.doesNotMatch(run.stderr, /napi|FATAL|Abort|\n\s+at /, `${where}: ${describe(run)}`);
    assert.equal(run.exitCode, signalled ? 130 : 0, `${where}: ${describe(run)}`);
    if (signalled) interruptedMidway++;
    assert.deepEqual(lockFiles(repository), [], `${where}: the lock was released`);
    t.diagnostic(`${where}: exit ${run.exitCode}`);
    if (!signalled) {
      // It finished: new content, so that the next runs seal and store again.
      sourceBytesNew = makeSource(source, random);
      before = await repositoryCounts(repository);
    }
  }
  assert.ok(interruptedMidway > 0, 'at least one SIGINT landed before the backup ended');

  const packsLeft = (await repositoryCounts(repository)).packs - before.packs;
  const next = await runHoldfast(['backup', '--repo', repository, '--force', '--json', source], { env });
  assert.equal(next.exitCode, 0, `the backup after the interruptions (no --retry-lock): ${describe(next)}`);
  const rawBytesAdded = Number(jsonLines(next).find((line) => line['type'] === 'summary')!['rawBytesAdded']);
  t.diagnostic(`interrupted runs left ${packsLeft} packs; the next backup added ${rawBytesAdded} of ${sourceBytesNew} raw bytes`);
  if (packsLeft > 0) assert.ok(rawBytesAdded < sourceBytesNew, `the next backup reused the ${packsLeft} packs the interrupted runs stored: it added ${rawBytesAdded} of ${sourceBytesNew} raw bytes`);
  const check = await runHoldfast(['check', '--repo', repository, '--read-data'], { env });
  assert.equal(check.exitCode, 0, `check --read-data after the interruptions: ${describe(check)}\n${check.stdout.toString('utf8')}`);

  // A restore stopped the same way says it was interrupted, not that every file after was unreadable.
  const restore = startHoldfast(['restore', '--repo', repository, 'latest', '--target', join(work.path, 'restored')], { env });
  while (lockFiles(repository).length === 0) await new Promise((resolve) => setTimeout(resolve, lockPollMs));
  await new Promise((resolve) => setTimeout(resolve, Math.round(random.nextFloat() * 300)));
  const restoreSignalled = restore.child.kill('SIGINT');
  const restored = await restore.done;
  assert.equal(restored.exitCode, restoreSignalled ? 130 : 0, `restore: ${describe(restored)}`);
  assert.doesNotMatch(restored.stderr, /not restored|cannot be read|skipped/, `restore: ${describe(restored)}`);
  assert.deepEqual(lockFiles(repository), [], 'the restore released its lock');
});
