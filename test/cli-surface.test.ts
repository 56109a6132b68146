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
import { requireRoot } from '../src/test-support/requirements.js';
import { type HoldfastRun, jsonLines, runHoldfast, summaryOf } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
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

test('backup, restore and check print their summary on a pipe (a cron log); --quiet silences it', async () => {
  using directory = temporaryDirectory();
  const s = await scene(directory.path);
  const backup = await s.ok(['backup', s.source]);
  const [id] = await snapshotIds(s);
  assert.match(backup.stderr, new RegExp(`^snapshot ${id!.slice(0, 8)} saved: 2 files \\(0 unchanged\\), 11 B of data in \\d+:\\d\\d, `, 'm'), backup.stderr);
  const restore = await s.ok(['restore', 'latest', '--target', join(s.directory, 'back')]);
  // The source, sub and two files, and each directory above the source (kept by absolute path).
  const entries = 4 + s.source.split('/').length - 2;
  assert.match(restore.stderr, new RegExp(`^restored ${entries} entries, 11 B of data from snapshot ${id!.slice(0, 8)} in \\d+:\\d\\d`, 'm'), restore.stderr);
  const check = await s.ok(['check']);
  assert.match(check.stderr, /^no problems found in \d+:\d\d: /m, check.stderr);

  for (const args of [['backup', '-q', s.source], ['restore', '--quiet', 'latest', '--target', join(s.directory, 'again')], ['check', '-q']]) {
    const quiet = await s.ok(args);
    assert.equal(quiet.stderr, '', `holdfast ${args.join(' ')} says nothing`);
    assert.equal(quiet.stdout.length, 0);
  }
  const json = await s.ok(['backup', '--quiet', '--json', s.source]);
  assert.equal(typeof summaryOf(json)['snapshot'], 'string', '--json still gives its summary line');
});

test('a backup of a path that does not exist names it: alone it fails (exit 1), beside others they are backed up (exit 3)', async () => {
  using directory = temporaryDirectory();
  const s = await scene(directory.path);
  const missing = join(s.directory, 'no-such-directory');
  const alone = await s.run(['backup', missing]);
  assert.equal(alone.exitCode, 1, alone.stderr);
  assert.match(alone.stderr, new RegExp(`^holdfast backup: Cannot back up "${missing}": ENOENT`, 'm'));
  assert.doesNotMatch(alone.stderr, /\n\s+at /, 'an error, not a stack trace');
  assert.deepEqual(await snapshotIds(s), [], 'no snapshot was stored');

  const beside = await s.run(['backup', missing, s.source, '--json']);
  assert.equal(beside.exitCode, 3, beside.stderr);
  const skipped = jsonLines(beside).filter((line) => line['type'] === 'skipped');
  assert.deepEqual(skipped.map((line) => [line['path'], line['code']]), [[missing, 'ENOENT']]);
  const summary = summaryOf(beside);
  assert.equal(summary['problems'], 1);
  assert.deepEqual(summary['missingPaths'], [missing]);
  const listed = jsonLines(await s.ok(['snapshots', '--json']));
  assert.deepEqual(listed.map((snapshot) => snapshot['paths']), [[s.source]], 'the snapshot holds the paths that exist');
  assert.deepEqual(listed.map((snapshot) => snapshot['id']), [summary['snapshot']]);

  const text = await s.run(['backup', s.source, missing]);
  assert.equal(text.exitCode, 3);
  assert.match(text.stderr, new RegExp(`^holdfast backup: skipped "${missing}": Cannot back up "${missing}": ENOENT`, 'm'));
  assert.match(text.stderr, /^snapshot [0-9a-f]{8} saved: .*, 1 problems$/m);
  await s.ok(['check']);
});

test('global options work before the verb: -r X, -rX, --repo=X, --password-file, --json, -q', async () => {
  using directory = temporaryDirectory();
  const s = await scene(directory.path);
  const elsewhere = { HOLDFAST_REPOSITORY: join(s.directory, 'not-this-one') };
  const backup = await s.run(['-r', s.repository, '--json', '-q', 'backup', s.source], elsewhere);
  assert.equal(backup.exitCode, 0, backup.stderr);
  assert.equal(backup.stderr, '', '-q before the verb silences the summary');
  const id = String(summaryOf(backup)['snapshot']);

  const listed = async (args: string[], env: NodeJS.ProcessEnv = elsewhere): Promise<unknown[]> => {
    const run = await s.run(args, env);
    assert.equal(run.exitCode, 0, `holdfast ${args.join(' ')}: ${run.stderr}`);
    return jsonLines(run).map((snapshot) => snapshot['id']);
  };
  assert.deepEqual(await listed(['-r', s.repository, 'snapshots', '--json']), [id]);
  assert.deepEqual(await listed([`--repo=${s.repository}`, '--json', 'snapshots']), [id]);
  const passwordFile = join(s.directory, 'password');
  writeFileSync(passwordFile, 'cli surface\n');
  assert.deepEqual(await listed([`-r${s.repository}`, '--password-file', passwordFile, '--json', 'snapshots'], { ...elsewhere, HOLDFAST_PASSWORD: 'wrong' }), [id]);
  // find takes patterns after "--": the global options go before it, not among the patterns.
  const found = await s.run(['-r', s.repository, '--json', 'find', '--', 'a.txt'], elsewhere);
  assert.equal(found.exitCode, 0, found.stderr);
  assert.ok(jsonLines(found).length > 0, found.stdout.toString('utf8'));

  const missingValue = await s.run(['-r']);
  assert.equal(missingValue.exitCode, 1);
  assert.match(missingValue.stderr, /^holdfast: option "-r" needs a value/);
});

test('an unknown option is named with balanced quotes, and the verb\'s usage follows', async () => {
  using directory = temporaryDirectory();
  const run = await runHoldfast(['snapshots', '--frobnicate'], { env: environment({ HOME: directory.path }) });
  assert.equal(run.exitCode, 1);
  const first = run.stderr.split('\n')[0]!;
  assert.equal(first, 'holdfast snapshots: unknown option "--frobnicate" (an argument that starts with "-" goes after "--", as in: -- --frobnicate)');
  assert.equal(first.split('"').length % 2, 1, `balanced double quotes: ${first}`);
  assert.equal(first.split("'").length % 2, 1, `balanced single quotes: ${first}`);
  assert.match(run.stderr, /^Usage: holdfast snapshots /m);
});

test('a restore target on a read-only file system fails with EROFS and the directory, not ENOENT', async (t) => {
  if (!requireRoot(t)) return;
  using directory = temporaryDirectory();
  const s = await scene(directory.path);
  await s.ok(['backup', '-q', s.source]);
  const readOnly = join(s.directory, 'read-only');
  mkdirSync(readOnly);
  await runToolOrFail('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]);
  try {
    const target = join(readOnly, 'restored', 'here');
    const run = await s.run(['restore', 'latest', '--target', target]);
    assert.equal(run.exitCode, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`^holdfast restore: Cannot create the restore target "${join(readOnly, 'restored')}": EROFS`, 'm'));
    assert.doesNotMatch(run.stderr, /ENOENT/);
    const imported = await s.run(['import', '--target', target], {});
    assert.equal(imported.exitCode, 1);
    assert.match(imported.stderr, /Cannot create the import target ".*": EROFS/);
  } finally {
    await runToolOrFail('umount', [readOnly]);
  }
});
