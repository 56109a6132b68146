/**
 * A closed stdout (`holdfast ls latest | head -1`) ends a verb quietly: exit code 141 (128 +
 * SIGPIPE, what a shell reports), nothing on stderr (no EPIPE stack trace), no flight-recorder
 * file, no lock left behind; and a forget --prune cut off this way leaves a repository that
 * `check --read-data` accepts.
 *
 * How: the real CLI with stdout a pipe that the test closes as soon as the first bytes arrive,
 * as `head -1` does. The output is made several times larger than a pipe's buffer (64 KiB), so
 * the CLI is still writing when the pipe closes: `ls --json` of a snapshot of 2,400 entries, and
 * `snapshots --json` of six snapshots that each name 300 paths of 170 characters. forget --prune prints its
 * forget line first and the prune's lines later, after the pipe is closed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanEnvironment } from '../src/test-support/kill-loop.js';
import { runHoldfast, startHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const directoryCount = 300;
const filesPerDirectory = 8;
const snapshotCount = 6;
/** Long directory names make every snapshot's JSON line long (each names them all). */
const directoryNamePadding = 'a-directory-name-long-enough-to-fill-a-pipe-quickly-'.repeat(3);

function describe(run: HoldfastRun): string {
  return `exit ${run.exitCode}\n--- stderr\n${run.stderr.trim()}`;
}

/** Runs the CLI and closes its stdout at the first bytes, as `| head -1` would. */
async function runUntilFirstBytes(args: string[], env: NodeJS.ProcessEnv): Promise<{ run: HoldfastRun; firstBytes: string }> {
  let firstBytes = '';
  const started = startHoldfast(args, {
    env,
    onStdout: (chunk) => {
      if (firstBytes !== '') return;
      firstBytes = chunk.toString('utf8');
      started.child.stdout!.destroy();
    },
  });
  return { run: await started.done, firstBytes };
}

test('ls, snapshots --json and forget --prune --json into a pipe closed after the first line exit 141, quietly, and leave no lock', async (t) => {
  using work = temporaryDirectory();
  const repository = join(work.path, 'repository');
  const cache = join(work.path, 'cache');
  const env = cleanEnvironment({ HOLDFAST_PASSWORD: 'closed pipe', HOLDFAST_REPOSITORY: repository, XDG_CACHE_HOME: cache });
  const paths: string[] = [];
  for (let directory = 0; directory < directoryCount; directory++) {
    const path = join(work.path, 'source', `${directoryNamePadding}${String(directory).padStart(4, '0')}`);
    mkdirSync(path, { recursive: true });
    for (let file = 0; file < filesPerDirectory; file++) writeFileSync(join(path, `file-${file}.txt`), `${directory}/${file}\n`);
    paths.push(path);
  }
  assert.equal((await runHoldfast(['init'], { env })).exitCode, 0);
  for (let snapshot = 0; snapshot < snapshotCount; snapshot++) {
    const backup = await runHoldfast(['backup', '--tag', `round-${snapshot}`, ...paths], { env });
    assert.equal(backup.exitCode, 0, describe(backup));
  }

  const closedEarly = async (args: string[]): Promise<void> => {
    const { run, firstBytes } = await runUntilFirstBytes(args, env);
    const what = `holdfast ${args.join(' ')} | head -1`;
    assert.notEqual(firstBytes, '', `${what} wrote something first`);
    assert.equal(run.exitCode, 141, `${what}: ${describe(run)}`);
    assert.equal(run.stderr, '', `${what} said nothing on stderr`);
    const flightFiles = existsSync(join(cache, 'holdfast')) ? readdirSync(join(cache, 'holdfast')).filter((name) => name.startsWith('holdfast-flight-')) : [];
    assert.deepEqual(flightFiles, [], `${what} wrote no flight-recorder file`);
    assert.deepEqual(readdirSync(join(repository, 'locks')), [], `${what} left no lock`);
    t.diagnostic(`${what}: exit ${run.exitCode}, stderr empty, no lock`);
  };
  await closedEarly(['ls', 'latest', '--json']);
  await closedEarly(['snapshots', '--json']);
  await closedEarly(['forget', '--keep-last', '1', '--prune', '--json']);

  const check = await runHoldfast(['check', '--read-data'], { env });
  assert.equal(check.exitCode, 0, `check --read-data after the closed pipes: ${describe(check)}`);
  const after = await runHoldfast(['snapshots', '--json'], { env });
  assert.equal(after.exitCode, 0, describe(after));
});
