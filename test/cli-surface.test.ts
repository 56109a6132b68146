/**
 * What a new user runs into at the command line (issue 15), as they meet it: comma lists of
 * tags on backup, filters and forget (as restic); a summary on stderr when it is not a terminal
 * (a cron log), silenced by --quiet; a backup of a path that does not exist; global options
 * before the verb; and clear errors for an unknown option and a read-only restore target.
 *
 * How: the real CLI runs from the sources in its own process (runHoldfast), its stdout and
 * stderr are pipes, as under cron. Each test makes its own repository in a temporary directory
 * and checks exit codes, snapshot ids, tags and what stderr says. The read-only target is a
 * tmpfs mounted read-only (as root).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

interface Scene {
  directory: string;
  repository: string;
  source: string;
  /** Runs holdfast with the scene's repository and password in the environment. */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<HoldfastRun>;
  /** Runs holdfast and fails the test unless it exits 0. */
  ok(args: string[]): Promise<HoldfastRun>;
}

function environment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, ...extra };
}

/** A repository (made with init) and a small source tree, under `directory`. */
async function scene(directory: string): Promise<Scene> {
  const repository = join(directory, 'repository');
  const source = join(directory, 'source');
  mkdirSync(join(source, 'sub'), { recursive: true });
  writeFileSync(join(source, 'a.txt'), 'alpha\n');
  writeFileSync(join(source, 'sub', 'b.txt'), 'beta\n');
  const env = environment({ HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: 'cli surface', XDG_CACHE_HOME: join(directory, 'cache'), HOME: directory });
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<HoldfastRun> => runHoldfast(args, { env: { ...env, ...extra } });
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const result = await run(args);
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };
  await ok(['init']);
  return { directory, repository, source, run, ok };
}

function jsonLines(run: HoldfastRun): Record<string, unknown>[] {
  return run.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function summaryOf(run: HoldfastRun): Record<string, unknown> {
  const summary = jsonLines(run).find((line) => line['type'] === 'summary');
  assert.ok(summary !== undefined, `no summary line in ${run.stdout.toString('utf8')}`);
  return summary;
}

async function snapshotIds(scene: Scene, filter: string[] = []): Promise<string[]> {
  return jsonLines(await scene.ok(['snapshots', '--json', ...filter])).map((snapshot) => String(snapshot['id']));
}

test('--tag a,b stores the tags a and b; a filter list means all of them, repeated options any', async () => {
  using directory = temporaryDirectory();
  const s = await scene(directory.path);
  const tagged = String(summaryOf(await s.ok(['backup', s.source, '--tag', 'a,b', '--tag', ' c ,a', '--json']))['snapshot']);
  const untagged = String(summaryOf(await s.ok(['backup', s.source, '--json']))['snapshot']);
  const listed = jsonLines(await s.ok(['snapshots', '--json']));
  assert.deepEqual(listed.map((snapshot) => snapshot['tags']), [['a', 'b', 'c'], []], 'each tag once, as given, without spaces');

  assert.deepEqual(await snapshotIds(s, ['--tag', 'a']), [tagged]);
  assert.deepEqual(await snapshotIds(s, ['--tag', 'a,b']), [tagged], 'a list asks for all its tags');
  assert.deepEqual(await snapshotIds(s, ['--tag', 'a,nonesuch']), []);
  assert.deepEqual(await snapshotIds(s, ['--tag', 'nonesuch', '--tag', 'b']), [tagged], 'repeated --tag asks for any');
  assert.deepEqual(await snapshotIds(s, ['--tag', '']), [untagged]);

  const kept = jsonLines(await s.ok(['forget', '--keep-tag', 'a,c', '--group-by', '', '--dry-run', '--json']))[0] as { groups: { keep: { id: string }[]; remove: { id: string }[] }[] };
  assert.deepEqual(kept.groups[0]!.keep.map((snapshot) => snapshot.id), [tagged]);
  assert.deepEqual(kept.groups[0]!.remove.map((snapshot) => snapshot.id), [untagged]);
  await s.ok(['forget', '--keep-tag', 'b', '--keep-tag', 'nonesuch', '--group-by', '']);
  assert.deepEqual(await snapshotIds(s), [tagged], 'forget --keep-tag b kept the snapshot tagged "a,b"');
  await s.ok(['check']);
});
