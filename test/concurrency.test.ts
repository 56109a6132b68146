/**
 * Many clients in one repository (docs/concurrency.md), with the real CLI in separate processes:
 * two backups of different paths at once both complete; then `forget` and `prune` run while a
 * third backup is running — a backup that deduplicates against the very blobs the forget made
 * unneeded — and afterwards `check --read-data` passes and every kept snapshot restores exactly.
 * A repair (exclusive lock) beside a running backup is refused with exit code 11.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareTrees } from '../src/test-support/compare-trees.js';
import { runHoldfast, startHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const password = 'many clients';

function environment(): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, HOLDFAST_PASSWORD: password };
}

async function holdfastOk(args: string[]): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env: environment() });
  assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return run;
}

function makeTree(root: string, files: number, bytesEach: number): void {
  mkdirSync(root, { recursive: true });
  for (let index = 0; index < files; index++) {
    const directory = join(root, `d${index % 4}`);
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, `f${index}`), randomBytes(bytesEach));
  }
}

function snapshotIds(run: HoldfastRun): { id: string; paths: string[] }[] {
  return run.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { type: string; id: string; paths: string[] })
    .filter((line) => line.type === 'snapshot');
}

/**
 * A `backup --force` of `source` that has loaded the index and begun reading (its first progress
 * line), then stopped with SIGSTOP: a slow backup, really holding its lock. The caller continues it.
 */
async function backupStoppedWhileReading(repository: string, source: string): Promise<ReturnType<typeof startHoldfast>> {
  let begun!: () => void;
  const reading = new Promise<void>((resolve) => (begun = resolve));
  const started = startHoldfast(['backup', '--repo', repository, '--force', '--json', source], {
    env: environment(),
    onStdout: (chunk) => {
      if (chunk.toString('utf8').includes('"type":"progress"')) begun();
    },
  });
  await reading;
  started.child.kill('SIGSTOP');
  return started;
}

test('two backups at once, then forget and prune beside a third backup: check passes, every kept snapshot restores exactly', async () => {
  using work = temporaryDirectory();
  const repository = join(work.path, 'repo');
  const alpha = join(work.path, 'alpha');
  const beta = join(work.path, 'beta');
  makeTree(alpha, 24, 400_000);
  makeTree(beta, 24, 400_000);
  await holdfastOk(['init', '--repo', repository]);

  const [first, second] = await Promise.all([runHoldfast(['backup', '--repo', repository, alpha], { env: environment() }), runHoldfast(['backup', '--repo', repository, beta], { env: environment() })]);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.equal(second.exitCode, 0, second.stderr);
  const afterTwo = snapshotIds(await holdfastOk(['snapshots', '--repo', repository, '--json']));
  assert.equal(afterTwo.length, 2);
  const alphaSnapshot = afterTwo.find((snapshot) => snapshot.paths[0] === alpha)!.id;

  // The third backup: alpha again plus new data, with --force so that it reads alpha's files and
  // deduplicates against the blobs the forget below makes unneeded. It is stopped (SIGSTOP) once
  // it has loaded the index and begun reading — a slow backup, really holding its lock — while
  // the forget and the prune run, and continued once the prune waits for it.
  makeTree(join(alpha, 'more'), 20, 1_000_000);
  const third = await backupStoppedWhileReading(repository, alpha);
  try {
    // A repair needs the repository to itself: refused while the backup holds its lock.
    const repair = await runHoldfast(['repair', 'index', '--repo', repository], { env: environment() });
    assert.equal(repair.exitCode, 11, `repair beside a backup: ${repair.stderr}`);
    assert.match(repair.stderr, /locked by shared lock of "holdfast backup/);
    await holdfastOk(['forget', '--repo', repository, alphaSnapshot]);
    let pruneWaits!: () => void;
    const waiting = new Promise<void>((resolve) => (pruneWaits = resolve));
    const prune = startHoldfast(['prune', '--repo', repository, '--json'], {
      env: environment(),
      onStdout: (chunk) => {
        if (chunk.toString('utf8').includes('waiting for 1 operation')) pruneWaits();
      },
    });
    await Promise.race([waiting, prune.done]);
    // The prune has rewritten the index without alpha's packs and waits for the backup.
    third.child.kill('SIGCONT');
    const thirdRun = await third.done;
    assert.equal(thirdRun.exitCode, 0, `third backup: ${thirdRun.stderr}`);
    const pruneRun = await prune.done;
    assert.equal(pruneRun.exitCode, 0, `prune: ${pruneRun.stderr}`);
    const summary = pruneRun.stdout
      .toString('utf8')
      .split('\n')
      .filter((line) => line.includes('"type":"summary"'))
      .map((line) => JSON.parse(line) as { rescuedPacks: number; deletedPacks: number; dropPacks: number })[0]!;
    assert.ok(summary.dropPacks > 0, "the forget left alpha's packs unneeded");
    assert.ok(summary.rescuedPacks > 0, `the prune kept the packs the third backup reused: ${JSON.stringify(summary)}`);
  } finally {
    third.child.kill('SIGCONT');
  }

  const check = await holdfastOk(['check', '--repo', repository, '--read-data']);
  assert.match(check.stderr + check.stdout.toString('utf8'), /no problems found|^$/);
  const kept = snapshotIds(await holdfastOk(['snapshots', '--repo', repository, '--json']));
  assert.equal(kept.length, 2, 'beta and the third backup are kept');
  assert.ok(!kept.some((snapshot) => snapshot.id === alphaSnapshot));
  for (const snapshot of kept) {
    const target = join(work.path, `restore-${snapshot.id.slice(0, 8)}`);
    await holdfastOk(['restore', '--repo', repository, snapshot.id, '--target', target]);
    const source = snapshot.paths[0]!;
    const differences = await compareTrees(source, join(target, source));
    assert.deepEqual(differences, [], `snapshot ${snapshot.id.slice(0, 8)} of ${source}`);
  }
  // Now nothing runs beside it: a second prune finds what the first one could not drop.
  await holdfastOk(['prune', '--repo', repository]);
  await holdfastOk(['check', '--repo', repository, '--read-data']);
});

test('a prune that cannot outlast an older backup deletes nothing and leaves the packs for the next prune', async () => {
  using work = temporaryDirectory();
  const repository = join(work.path, 'repo');
  const alpha = join(work.path, 'alpha');
  makeTree(alpha, 12, 400_000);
  await holdfastOk(['init', '--repo', repository]);
  await holdfastOk(['backup', '--repo', repository, alpha]);
  const [old] = snapshotIds(await holdfastOk(['snapshots', '--repo', repository, '--json']));
  const backup = await backupStoppedWhileReading(repository, alpha);
  try {
    await holdfastOk(['forget', '--repo', repository, old!.id]);
    const prune = await holdfastOk(['prune', '--repo', repository, '--wait-for-operations', '1s', '--json']);
    const summary = JSON.parse(prune.stdout.toString('utf8').split('\n').find((line) => line.includes('"type":"summary"'))!) as { deletedPacks: number; packsLeftForLater: number };
    assert.equal(summary.deletedPacks, 0);
    assert.ok(summary.packsLeftForLater > 0);
  } finally {
    backup.child.kill('SIGCONT');
  }
  const backupRun = await backup.done;
  assert.equal(backupRun.exitCode, 0, backupRun.stderr);
  // The backup reused alpha's packs, which the prune had taken out of the index: it indexed them
  // again before saving its snapshot, so the repository is whole and the snapshot restores.
  await holdfastOk(['check', '--repo', repository, '--read-data']);
  const target = join(work.path, 'restore');
  await holdfastOk(['restore', '--repo', repository, 'latest', '--target', target]);
  assert.deepEqual(await compareTrees(alpha, join(target, alpha)), []);
  await holdfastOk(['prune', '--repo', repository]);
  await holdfastOk(['check', '--repo', repository, '--read-data']);
});
