/**
 * One damaged or foreign snapshot file blocks no other snapshot (rule D5, issue 16): with one
 * snapshot file cut short, overwritten with random bytes, or replaced by a sealed index file,
 * `snapshots` lists the others and names the bad one (exit 3), `backup` finds the newest intact
 * parent (exit 0, a warning), `restore latest` and a restore by id of an intact snapshot restore
 * every file (exit 0), `forget --keep-last 1` neither counts nor removes the bad file (exit 3),
 * and `check` still reports it. A snapshot file replaced by an older snapshot's bytes under the
 * newer id (a rollback of one file) is refused because its bytes do not hash to its name: it is
 * never restored as if it were the newer snapshot. An index file replaced by another index
 * file's bytes is refused for the same reason.
 *
 * How: the real CLI (runHoldfast, its own process from the sources) backs up one small tree
 * three times into one repository, a.txt changed and a file added each time, so a restore shows
 * which snapshot it came from. Each case damages a fresh copy (cp -a) of that repository with
 * plain file writes and compares what the CLI prints and restores with what the test made.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { type HoldfastRun, jsonLines, runHoldfast } from '../src/test-support/run-holdfast.js';
import { runToolOrFail } from '../src/test-support/system-tools.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

const password = 'damaged snapshot files';
const exitFatal = 1;
const exitPartial = 3;

/** The files of each snapshot, by the test's design: relative path -> content. */
const versions: Record<string, string>[] = [
  { 'a.txt': 'first version of a\n', 'sub/b.txt': 'b, never changed\n' },
  { 'a.txt': 'second version of a, longer\n', 'sub/b.txt': 'b, never changed\n', 'c.txt': 'c, added second\n' },
  { 'a.txt': 'third\n', 'sub/b.txt': 'b, never changed\n', 'c.txt': 'c, added second\n', 'sub/d.txt': 'd, added third\n' },
];

interface Fixture {
  directory: string;
  root: string;
  built: string;
  /** Snapshot ids, oldest first. */
  ids: string[];
}

let fixture: Fixture;
let directoryHandle: { path: string; [Symbol.dispose](): void } | null = null;
let copies = 0;

function environment(repository: string): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: password, XDG_CACHE_HOME: join(fixture.directory, 'cache') };
}

function describe(run: HoldfastRun, args: readonly string[]): string {
  return `holdfast ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}${run.stdout.toString('utf8')}`;
}

async function holdfast(repository: string, args: string[], exitCode: number): Promise<HoldfastRun> {
  const run = await runHoldfast(args, { env: environment(repository) });
  assert.equal(run.exitCode, exitCode, describe(run, args));
  return run;
}

function writeTree(files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(fixture.root, name, '..'), { recursive: true });
    writeFileSync(join(fixture.root, name), content);
  }
}

/** Every regular file below `root`: relative path -> content. */
function filesIn(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (path: string): void => {
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      if (statSync(child).isDirectory()) walk(child);
      else files[relative(root, child)] = readFileSync(child, 'utf8');
    }
  };
  walk(root);
  return files;
}

async function damagedCopy(damage: (repository: string) => void): Promise<string> {
  const copy = join(fixture.directory, `copy-${copies++}`);
  await runToolOrFail('cp', ['-a', fixture.built, copy]);
  damage(copy);
  return copy;
}

const snapshotFile = (repository: string, id: string): string => join(repository, 'snapshots', id);
const indexFiles = (repository: string): string[] => readdirSync(join(repository, 'index')).filter((name) => /^[0-9a-f]{64}$/.test(name));

/** Restores `name` into a new directory and asserts it holds exactly `expected`'s files. */
async function restoresExactly(repository: string, name: string, expected: Record<string, string>, what: string): Promise<HoldfastRun> {
  const target = join(fixture.directory, `restore-${copies++}`);
  const run = await holdfast(repository, ['restore', name, '--target', target], 0);
  assert.deepEqual(filesIn(join(target, fixture.root)), expected, `${what}: restore ${name} restored other files`);
  return run;
}

before(async () => {
  directoryHandle = temporaryDirectory();
  const directory = directoryHandle.path;
  fixture = { directory, root: join(directory, 'tree'), built: join(directory, 'built'), ids: [] };
  await holdfast(fixture.built, ['init'], 0);
  for (const files of versions) {
    writeTree(files);
    const run = await holdfast(fixture.built, ['backup', fixture.root, '--json'], 0);
    fixture.ids.push(String(jsonLines(run).find((line) => line['type'] === 'summary')!['snapshot']));
  }
  assert.equal(new Set(fixture.ids).size, 3);
});

after(() => directoryHandle?.[Symbol.dispose]());

const damages: { name: string; apply: (repository: string, path: string) => void }[] = [
  { name: 'cut short', apply: (_repository, path) => truncateSync(path, Math.floor(statSync(path).size / 2)) },
  { name: 'overwritten with random bytes', apply: (_repository, path) => writeFileSync(path, randomBytes(statSync(path).size)) },
  { name: 'replaced by a sealed index file', apply: (repository, path) => writeFileSync(path, readFileSync(join(repository, 'index', indexFiles(repository)[0]!))) },
];

for (const damage of damages) {
  test(`a snapshot file ${damage.name} is named and skipped; every other snapshot lists, backs up, restores and forgets`, async () => {
    const [first, second, third] = fixture.ids as [string, string, string];
    const copy = await damagedCopy((repository) => damage.apply(repository, snapshotFile(repository, second)));
    const badPath = snapshotFile(copy, second);

    // snapshots: the two intact ones, the bad one named with its code; exit 3 (some left out).
    const listed = await holdfast(copy, ['snapshots', '--json'], exitPartial);
    const lines = jsonLines(listed);
    assert.deepEqual(lines.filter((line) => line['type'] === 'snapshot').map((line) => line['id']), [first, third]);
    const skipped = lines.filter((line) => line['type'] === 'skipped');
    assert.deepEqual(skipped.map((line) => [line['path'], line['code']]), [[badPath, 'HOLDFAST_INTEGRITY']], JSON.stringify(lines));
    const text = await holdfast(copy, ['snapshots'], exitPartial);
    assert.match(text.stderr, new RegExp(`skipped "${badPath}": Cannot read snapshot "${badPath}": `));
    assert.match(text.stdout.toString('utf8'), /2 snapshots \(1 damaged left out\)/);

    // restore latest and by (short) id of an intact snapshot: every file, exit 0.
    const latest = await restoresExactly(copy, 'latest', versions[2]!, damage.name);
    assert.match(latest.stderr, new RegExp(`warning "${badPath}"`), 'restore latest names the snapshot file it passed over');
    await restoresExactly(copy, first.slice(0, 8), versions[0]!, damage.name);
    // The damaged one by its id: its damage is the error.
    const refused = await holdfast(copy, ['restore', second.slice(0, 8), '--target', join(fixture.directory, `restore-${copies++}`)], exitFatal);
    assert.match(refused.stderr, /\[HOLDFAST_INTEGRITY\]/);

    // forget --keep-last 1: the policy sees the two intact snapshots; the bad file stays.
    const forgotten = await holdfast(copy, ['forget', '--keep-last', '1', '--json'], exitPartial);
    const forget = jsonLines(forgotten).find((line) => line['type'] === 'forget') as { removed: string[] } | undefined;
    assert.deepEqual(forget?.removed, [first], describe(forgotten, ['forget']));
    assert.ok(existsSync(badPath), 'forget removed the damaged snapshot file');
    assert.deepEqual(jsonLines(await holdfast(copy, ['snapshots', '--json'], exitPartial)).filter((line) => line['type'] === 'snapshot').map((line) => line['id']), [third]);

    // backup: the parent is the newest intact snapshot; the bad file is a warning, exit 0.
    const backedUp = await holdfast(copy, ['backup', fixture.root, '--json'], 0);
    const backupLines = jsonLines(backedUp);
    assert.equal(backupLines.find((line) => line['type'] === 'summary')?.['parent'], third);
    assert.deepEqual(backupLines.filter((line) => line['type'] === 'warning').map((line) => [line['path'], line['code']]), [[badPath, 'HOLDFAST_INTEGRITY']]);

    // check still reports the damaged snapshot as an error.
    const checked = await holdfast(copy, ['check', '--json'], exitFatal);
    assert.deepEqual(jsonLines(checked).find((line) => line['type'] === 'summary')?.['damagedSnapshots'], [second]);
  });
}

test('a snapshot file replaced by an older snapshot under the newer id is refused, never restored as the newer one', async () => {
  const [first, second, third] = fixture.ids as [string, string, string];
  // What someone with write access to the repository but no key could do: copy a real, older
  // snapshot file over the newest.
  const copy = await damagedCopy((repository) => writeFileSync(snapshotFile(repository, third), readFileSync(snapshotFile(repository, first))));
  const badPath = snapshotFile(copy, third);

  const refused = await holdfast(copy, ['restore', third.slice(0, 8), '--target', join(fixture.directory, `restore-${copies++}`)], exitFatal);
  assert.match(refused.stderr, new RegExp(`Cannot read snapshot "${badPath}": the file's content does not match its name`));
  assert.match(refused.stderr, /\[HOLDFAST_INTEGRITY\]/);

  // "latest" is the newest snapshot that is what its name says: the second one.
  const latest = await restoresExactly(copy, 'latest', versions[1]!, 'rolled back');
  assert.match(latest.stderr, new RegExp(`warning "${badPath}": .*does not match its name`));
  const listed = jsonLines(await holdfast(copy, ['snapshots', '--json'], exitPartial));
  assert.deepEqual(listed.filter((line) => line['type'] === 'snapshot').map((line) => line['id']), [first, second]);
});

test('an index file replaced by another index file is refused by its name, not loaded as if it were the one named', async () => {
  const copy = await damagedCopy((repository) => {
    const [one, two] = indexFiles(repository) as [string, string];
    writeFileSync(join(repository, 'index', one), readFileSync(join(repository, 'index', two)));
  });
  const swapped = indexFiles(copy)[0]!;
  // Refused by its name and left out (a damaged index file blocks no restore: the blobs it named
  // are found from the packs' own headers), never read as the index file it claims to be.
  const run = await runHoldfast(['restore', 'latest', '--target', join(fixture.directory, `restore-${copies++}`)], { env: environment(copy) });
  assert.equal(run.exitCode, 0, describe(run, ['restore']));
  assert.match(run.stderr, new RegExp(`"${join(copy, 'index', swapped)}": the file's content does not match its name`), run.stderr);
  const check = await runHoldfast(['check'], { env: environment(copy) });
  assert.equal(check.exitCode, 1, describe(check, ['check']));
  assert.ok(check.stderr.includes(swapped.slice(0, 16)), `check names the swapped index file: ${check.stderr}`);
});
