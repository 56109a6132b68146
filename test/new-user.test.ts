/**
 * What a new user runs into (issue 15), each as the user meets it: several first backups started
 * at once on a machine with no repository share one default repository (one key file, every
 * snapshot readable); several inits of one repository at once make it once; an empty password is
 * refused; an empty XDG_DATA_HOME means the default, not the current directory; "snapshots" on a
 * fresh machine says there is no repository (exit 10), and a restic repository is named as one
 * without raw bytes; removing the key the default key file opens is warned about, and the only
 * key cannot be removed.
 *
 * How: the real CLI (runHoldfast) in its own processes, with HOME pointing into a temporary
 * directory and none of the caller's HOLDFAST_ or XDG_ variables; concurrent runs are started
 * together with Promise.all. What was made is read back from the files (keys/, the key file) and
 * through the CLI (snapshots, restore, check). The restic repository is made by Debian's restic.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanEnvironment, jsonLines } from '../src/test-support/kill-loop.js';
import { requireTools } from '../src/test-support/requirements.js';
import { holdfastCommandLine, runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { runTool, runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const concurrentRuns = 8;
const exitFatal = 1;
const exitNoRepository = 10;
const exitWrongPassword = 12;
const terminalScript = fileURLToPath(new URL('../src/test-support/run-on-terminal.py', import.meta.url));

function describe(run: HoldfastRun, args: readonly string[]): string {
  return `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}`;
}

async function holdfastOk(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env, ...(cwd === undefined ? {} : { cwd }) });
  assert.equal(run.exitCode, 0, describe(run, args));
  return run;
}

function keyFiles(repository: string): string[] {
  return readdirSync(join(repository, 'keys')).filter((name) => !name.startsWith('.tmp-'));
}

/** A home directory with a small tree to back up, and where the default repository goes. */
function freshHome(root: string): { source: string; repository: string; keyFile: string } {
  const source = join(root, 'documents');
  mkdirSync(join(source, 'notes'), { recursive: true });
  writeFileSync(join(source, 'notes', 'todo.txt'), 'buy milk\n');
  const data = join(root, '.local', 'share', 'holdfast');
  return { source, repository: join(data, 'repository'), keyFile: join(data, 'repository.key') };
}

test(`${concurrentRuns} first backups at once on a fresh machine share one default repository, and every snapshot reads back`, async () => {
  using home = temporaryDirectory();
  const { source, repository, keyFile } = freshHome(home.path);
  const env = cleanEnvironment({ HOME: home.path });
  const runs = await Promise.all(Array.from({ length: concurrentRuns }, () => runHoldfast(['backup', source], { env })));
  for (const run of runs) assert.equal(run.exitCode, 0, describe(run, ['backup', source]));
  assert.equal(keyFiles(repository).length, 1, `one key file, not ${keyFiles(repository).join(', ')}`);
  assert.deepEqual(readdirSync(join(home.path, '.local', 'share', 'holdfast')).sort(), ['repository', 'repository.key'], 'no temporary key file is left');
  assert.equal(readFileSync(keyFile, 'utf8').length, 43, 'the key file holds a whole generated key');
  const created = runs.filter((run) => /this backup goes to the default one:/.test(run.stderr));
  assert.equal(created.length, 1, 'exactly one run says it made the repository');
  const listed = jsonLines(await holdfastOk(['snapshots', '--json'], env));
  assert.equal(listed.length, concurrentRuns, 'every backup left a snapshot that opens');
  await holdfastOk(['check'], env);
  await holdfastOk(['restore', 'latest', '--target', join(home.path, 'back')], env);
  assert.equal(readFileSync(join(home.path, 'back', source, 'notes', 'todo.txt'), 'utf8'), 'buy milk\n');
  await holdfastOk(['backup', source], env);
});

test(`${concurrentRuns} inits of one repository at once: one makes it, the others say it exists`, async () => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const env = cleanEnvironment({ HOME: directory.path, HOLDFAST_PASSWORD: 'one password' });
  const args = ['init', '--repo', repository];
  const runs = await Promise.all(Array.from({ length: concurrentRuns }, () => runHoldfast(args, { env })));
  const made = runs.filter((run) => run.exitCode === 0);
  assert.equal(made.length, 1, `exactly one init succeeds: ${runs.map((run) => describe(run, args)).join('\n')}`);
  for (const run of runs.filter((other) => other.exitCode !== 0)) {
    assert.equal(run.exitCode, exitFatal, describe(run, args));
    assert.match(run.stderr, /\[HOLDFAST_REPOSITORY_EXISTS\]/);
    assert.match(run.stderr, /a repository is already there|another process made a repository here at the same moment/);
  }
  assert.equal(keyFiles(repository).length, 1, 'the losers took their key files away');
  const { source } = freshHome(directory.path);
  await holdfastOk(['backup', '--repo', repository, source], env);
  await holdfastOk(['check', '--repo', repository], env);
});

test('key files of other repositories with the same password (inits that lost a race) open nothing here', async () => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const env = cleanEnvironment({ HOME: directory.path, HOLDFAST_PASSWORD: 'one password' });
  const { source } = freshHome(directory.path);
  await holdfastOk(['init', '--repo', repository], env);
  await holdfastOk(['backup', '--repo', repository, source], env);
  // Each other init draws its own master key; among five keys that all open with the password,
  // the repository's own is listed first only now and then.
  const others = Array.from({ length: 4 }, (_, index) => join(directory.path, `other-${index}`));
  await Promise.all(others.map((other) => holdfastOk(['init', '--repo', other], env)));
  for (const other of others) for (const name of keyFiles(other)) copyFileSync(join(other, 'keys', name), join(repository, 'keys', name));
  assert.equal(keyFiles(repository).length, 5);
  assert.equal(jsonLines(await holdfastOk(['snapshots', '--repo', repository, '--json'], env)).length, 1);
  await holdfastOk(['restore', 'latest', '--repo', repository, '--target', join(directory.path, 'back')], env);
  assert.equal(readFileSync(join(directory.path, 'back', source, 'notes', 'todo.txt'), 'utf8'), 'buy milk\n');
  await holdfastOk(['check', '--repo', repository], env);
});

test('init refuses an empty password, from the environment and from a file', async () => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const emptyFile = join(directory.path, 'empty-password');
  writeFileSync(emptyFile, '\n');
  for (const extra of [{ HOLDFAST_PASSWORD: '' }, { HOLDFAST_PASSWORD_FILE: emptyFile }]) {
    const args = ['init', '--repo', repository];
    const run = await runHoldfast(args, { env: cleanEnvironment({ HOME: directory.path, ...extra }) });
    assert.equal(run.exitCode, exitFatal, describe(run, args));
    assert.match(run.stderr, /the password is empty/);
    assert.ok(!existsSync(join(repository, 'config')), 'no repository was made');
  }
  const run = await runHoldfast(['init', '--repo', repository], { env: cleanEnvironment({ HOME: directory.path, HOLDFAST_PASSWORD: 'not empty' }) });
  assert.equal(run.exitCode, 0, describe(run, ['init']));
  const added = await runHoldfast(['key', 'add', '--repo', repository], { env: cleanEnvironment({ HOME: directory.path, HOLDFAST_PASSWORD: 'not empty', HOLDFAST_NEW_PASSWORD: '' }) });
  assert.equal(added.exitCode, exitFatal, describe(added, ['key', 'add']));
  assert.match(added.stderr, /the new password is empty/);
});

test('init on a terminal asks for the password twice and refuses an empty one', async (t) => {
  if (!requireTools(t, 'python3')) return;
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  // The terminal's child gets its environment from python3's, so the caller's HOLDFAST_ variables go.
  const onTerminal = async (answers: string[]): Promise<{ exitCode: number; shown: string }> => {
    const command = ['env', '-i', `PATH=${process.env['PATH'] ?? ''}`, `HOME=${directory.path}`, ...holdfastCommandLine(['init', '--repo', repository])];
    const result = await runTool('python3', [terminalScript, JSON.stringify(command), JSON.stringify(answers)]);
    return { exitCode: result.exitCode, shown: result.stdout };
  };
  const empty = await onTerminal(['']);
  assert.equal(empty.exitCode, exitFatal, empty.shown);
  assert.match(empty.shown, /the password is empty/);
  assert.ok(!existsSync(join(repository, 'config')), 'no repository was made');
  const differing = await onTerminal(['one password', 'another password']);
  assert.equal(differing.exitCode, exitFatal, differing.shown);
  assert.match(differing.shown, /Password again: [\s\S]*the two passwords differ/);
  assert.ok(!existsSync(join(repository, 'config')), 'no repository was made');
  const made = await onTerminal(['typed password', 'typed password']);
  assert.equal(made.exitCode, 0, made.shown);
  await holdfastOk(['snapshots', '--repo', repository], cleanEnvironment({ HOME: directory.path, HOLDFAST_PASSWORD: 'typed password' }));
});

// The cache directory (SIGUSR2's flight-recorder dumps) is found by the same rule; only the data
// directory shows on every first run, so it stands for both here.
test('an empty or relative XDG_DATA_HOME means the default below HOME, not the current directory', async () => {
  using home = temporaryDirectory();
  const { source, repository, keyFile } = freshHome(home.path);
  const workingDirectory = join(home.path, 'work');
  mkdirSync(workingDirectory);
  const env = cleanEnvironment({ HOME: home.path, XDG_DATA_HOME: '', XDG_CACHE_HOME: '' });
  const first = await holdfastOk(['backup', source], env, workingDirectory);
  assert.ok(first.stderr.includes(repository), `the default repository is below HOME: ${first.stderr}`);
  assert.ok(existsSync(join(repository, 'config')) && existsSync(keyFile));
  assert.deepEqual(readdirSync(workingDirectory), [], 'nothing was made in the current directory');
  const relative = cleanEnvironment({ HOME: home.path, XDG_DATA_HOME: 'relative/data' });
  await holdfastOk(['snapshots'], relative, workingDirectory);
  assert.deepEqual(readdirSync(workingDirectory), [], 'a relative XDG_DATA_HOME is ignored, as the spec says');
});

test('"snapshots" on a fresh machine says there is no repository (exit 10), before asking for a password', async () => {
  using home = temporaryDirectory();
  const args = ['snapshots'];
  const run = await runHoldfast(args, { env: cleanEnvironment({ HOME: home.path }) });
  assert.equal(run.exitCode, exitNoRepository, describe(run, args));
  assert.match(run.stderr, /\[HOLDFAST_NO_REPOSITORY\]/);
  assert.match(run.stderr, /there is no repository/);
  assert.match(run.stderr, /"holdfast backup DIR" makes it/, 'it says how the default repository is made');
  assert.doesNotMatch(run.stderr, /no password/);
});

test('a restic repository is named as one, with exit 10 and no raw bytes, and init leaves it alone', async (t) => {
  if (!requireTools(t, 'restic')) return;
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'restic-repository');
  await runToolOrFail('env', ['RESTIC_PASSWORD=restic password', 'restic', 'init', '--repo', repository]);
  const config = readFileSync(join(repository, 'config'));
  for (const extra of [{ HOLDFAST_PASSWORD: 'restic password' }, {}]) {
    const args = ['snapshots', '--repo', repository];
    const run = await runHoldfast(args, { env: cleanEnvironment({ HOME: directory.path, ...extra }) });
    assert.equal(run.exitCode, exitNoRepository, describe(run, args));
    assert.match(run.stderr, /this looks like a restic repository.*which holdfast cannot read \[HOLDFAST_NO_REPOSITORY\]/);
    assert.match(run.stderr, /^[\x20-\x7e\n]*$/, 'only printable text reaches the terminal');
  }
  const init = await runHoldfast(['init', '--repo', repository], { env: cleanEnvironment({ HOME: directory.path, HOLDFAST_PASSWORD: 'x' }) });
  assert.equal(init.exitCode, exitFatal, describe(init, ['init']));
  assert.match(init.stderr, /this looks like a restic repository/);
  assert.match(init.stderr, /^[\x20-\x7e\n]*$/);
  assert.ok(readFileSync(join(repository, 'config')).equals(config), 'the restic config is untouched');
});

test('removing the key the default key file opens is warned about, and the only key cannot be removed', async () => {
  using home = temporaryDirectory();
  const { source, repository, keyFile } = freshHome(home.path);
  const env = cleanEnvironment({ HOME: home.path });
  await holdfastOk(['backup', source], env);
  const [only] = keyFiles(repository);
  const refused = await runHoldfast(['key', 'remove', only!.slice(0, 8)], { env });
  assert.equal(refused.exitCode, exitFatal, describe(refused, ['key', 'remove']));
  assert.match(refused.stderr, /it is the only key of the repository/);
  assert.deepEqual(keyFiles(repository), [only]);

  await holdfastOk(['key', 'add'], cleanEnvironment({ HOME: home.path, HOLDFAST_NEW_PASSWORD: 'second password' }));
  const second = cleanEnvironment({ HOME: home.path, HOLDFAST_PASSWORD: 'second password' });
  const removed = await holdfastOk(['key', 'remove', only!.slice(0, 8)], second);
  assert.ok(removed.stderr.includes(keyFile), `the warning names the key file: ${removed.stderr}`);
  assert.match(removed.stderr, /warning .*no longer opens the repository/);
  const locked = await runHoldfast(['snapshots'], { env });
  assert.equal(locked.exitCode, exitWrongPassword, 'as warned, the key file no longer opens it');
  const quiet = await holdfastOk(['key', 'add'], cleanEnvironment({ HOME: home.path, HOLDFAST_PASSWORD: 'second password', HOLDFAST_NEW_PASSWORD: 'third password' }));
  assert.doesNotMatch(quiet.stderr, /warning/);
});

test('a first backup with HOLDFAST_PASSWORD set protects the default repository with that password and makes no key file', async () => {
  using home = temporaryDirectory();
  const { source, repository, keyFile } = freshHome(home.path);
  const env = cleanEnvironment({ HOME: home.path, HOLDFAST_PASSWORD: 'my own password' });
  const first = await holdfastOk(['backup', source], env);
  assert.ok(!existsSync(keyFile), 'no key file that would not open the repository');
  assert.match(first.stderr, /the one you gave/);
  assert.ok(!first.stderr.includes(keyFile), `the note does not tell the user to keep a key file: ${first.stderr}`);
  await holdfastOk(['snapshots'], env);
  const withoutPassword = await runHoldfast(['snapshots'], { env: cleanEnvironment({ HOME: home.path }) });
  assert.notEqual(withoutPassword.exitCode, 0, 'without the password nothing opens it');
  assert.ok(existsSync(join(repository, 'config')));
});
