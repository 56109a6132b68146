/**
 * `holdfast forget` and the --host/--tag/--path snapshot filter, as a user runs them: "latest"
 * with a filter picks the newest matching snapshot (not the newest overall) in restore, find, ls
 * and snapshots; forget lists per group what it keeps and why, removes nothing on --dry-run,
 * removes exactly what the policy leaves out of the filtered snapshots, and removes ids given.
 *
 * How: two small directories are backed up six times with different hosts and tags, a file
 * "version" in them changed before each backup so a restore shows which snapshot it came from.
 * The real CLI runs from the sources (runHoldfast). Each check compares exact snapshot ids,
 * listing lines or file contents with what the test made; the checker runs last. Time-bucket
 * rules (daily, weekly...) need chosen times, so src/engine/forget-policy.test.ts shows those.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

function lines(run: HoldfastRun): string[] {
  return run.stdout.toString('utf8').split('\n').filter((line) => line !== '');
}

function jsonLines(run: HoldfastRun): Record<string, unknown>[] {
  return lines(run).map((line) => JSON.parse(line) as Record<string, unknown>);
}

interface ForgetJsonSnapshot {
  id: string;
  reasons?: string[];
}

interface ForgetJson {
  type: string;
  dryRun: boolean;
  groups: { key: { hostname?: string; paths?: string[] } | null; keep: ForgetJsonSnapshot[]; remove: ForgetJsonSnapshot[] }[];
  removed: string[];
}

test('forget and the snapshot filter choose snapshots by host, tag and path', async (t) => {
  using directory = temporaryDirectory();
  const repository = join(directory.path, 'repository');
  const alpha = join(directory.path, 'alpha');
  const beta = join(directory.path, 'beta');
  mkdirSync(alpha);
  mkdirSync(beta);
  const run = (args: string[]): Promise<HoldfastRun> => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: 'forget test', XDG_CACHE_HOME: join(directory.path, 'cache') };
    delete env['HOLDFAST_PASSWORD_FILE'];
    return runHoldfast(args, { env });
  };
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const result = await run(args);
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };
  const snapshotIds = async (args: string[] = []): Promise<string[]> => jsonLines(await ok(['snapshots', '--json', ...args])).map((snapshot) => String(snapshot['id']));
  /** The short id of the snapshot "latest" with these filter options names, as find shows it. */
  const latestShortId = async (filter: string[]): Promise<string> => {
    const found = lines(await ok(['find', 'version', '--snapshot', 'latest', ...filter]));
    assert.equal(found.length, 1, found.join('\n'));
    return found[0]!.split('  ')[0]!;
  };
  const backupOf = async (root: string, version: string, options: string[]): Promise<void> => {
    writeFileSync(join(root, 'version'), `${version}\n`);
    await ok(['backup', root, ...options]);
  };

  await ok(['init']);
  await backupOf(alpha, 'h1 first', ['--host', 'h1', '--tag', 'daily']);
  await backupOf(alpha, 'h1 second', ['--host', 'h1']);
  await backupOf(beta, 'h2 first', ['--host', 'h2', '--tag', 'daily']);
  await backupOf(beta, 'h2 second', ['--host', 'h2', '--tag', 'daily', '--tag', 'offsite']);
  await backupOf(alpha, 'h1 third', ['--host', 'h1']);
  await backupOf(alpha, 'h3 only', ['--host', 'h3']);
  const all = await snapshotIds();
  assert.equal(all.length, 6);
  const [h1First, h1Second, h2First, h2Second, h1Third, h3Only] = all as [string, string, string, string, string, string];
  const short = (id: string): string => id.slice(0, 8);

  await t.test('restore latest --host h1 restores h1\'s newest snapshot, not the newest of all', async () => {
    const target = join(directory.path, 'restored-h1');
    await ok(['restore', 'latest', '--host', 'h1', '--target', target]);
    assert.equal(readFileSync(join(target, alpha, 'version'), 'utf8'), 'h1 third\n');
    const unfiltered = join(directory.path, 'restored-any');
    await ok(['restore', 'latest', '--target', unfiltered]);
    assert.equal(readFileSync(join(unfiltered, alpha, 'version'), 'utf8'), 'h3 only\n');
  });

  await t.test('latest honours --tag (a list means all its tags; several mean any), --host and --path together', async () => {
    assert.equal(await latestShortId([]), short(h3Only));
    assert.equal(await latestShortId(['--tag', 'daily']), short(h2Second));
    assert.equal(await latestShortId(['--tag', 'daily', '--host', 'h1']), short(h1First));
    assert.equal(await latestShortId(['--tag', 'daily,offsite']), short(h2Second));
    assert.equal(await latestShortId(['--tag', 'daily,nonesuch', '--tag', 'daily', '--host', 'h2']), short(h2Second));
    assert.equal(await latestShortId(['--path', alpha, '--host', 'h2', '--host', 'h1']), short(h1Third));
    assert.equal(await latestShortId(['--path', `${beta}/`]), short(h2Second), 'a trailing slash names the same path');
    // ls shows absolute paths; those below this test's directory are the snapshot's own.
    const below = (listed: string[]): string[] => listed.filter((path) => path.startsWith(`${directory.path}/`)).sort();
    assert.deepEqual(below(lines(await ok(['ls', 'latest', '--tag', 'offsite']))), [beta, `${beta}/version`]);
    assert.deepEqual(below(lines(await ok(['ls', 'latest', '--host', 'h1']))), [alpha, `${alpha}/version`]);
  });

  await t.test('latest with a filter nothing matches fails with HOLDFAST_NO_SNAPSHOT and the filter', async () => {
    const result = await run(['ls', 'latest', '--host', 'h2', '--tag', 'weekly']);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /no snapshot matches --host h2 --tag weekly \[HOLDFAST_NO_SNAPSHOT\]/);
  });

  await t.test('snapshots --host, --tag and --path list only the matching snapshots', async () => {
    assert.deepEqual(await snapshotIds(['--host', 'h2']), [h2First, h2Second]);
    assert.deepEqual(await snapshotIds(['--host', 'h2', '--host', 'h3']), [h2First, h2Second, h3Only]);
    assert.deepEqual(await snapshotIds(['--tag', 'daily']), [h1First, h2First, h2Second]);
    assert.deepEqual(await snapshotIds(['--tag', 'offsite', '--tag', 'daily,nonesuch']), [h2Second]);
    assert.deepEqual(await snapshotIds(['--tag', '']), [h1Second, h1Third, h3Only], 'an empty tag list means untagged');
    assert.deepEqual(await snapshotIds(['--path', alpha, '--host', 'h1']), [h1First, h1Second, h1Third]);
  });

  await t.test('forget without a policy or ids is refused and removes nothing', async () => {
    const result = await run(['forget']);
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /no policy was specified, no snapshots will be removed/);
    assert.deepEqual(await snapshotIds(), all);
  });

  await t.test('forget --keep-last 2 --dry-run lists each group with reasons and removes nothing', async () => {
    const text = (await ok(['forget', '--keep-last', '2', '--dry-run'])).stdout.toString('utf8');
    assert.match(text, /^applying policy: keep 2 last snapshots$/m);
    const h1Group = text.slice(text.indexOf(`snapshots of host "h1", paths "${alpha}":`));
    assert.ok(h1Group.length < text.length, text);
    assert.match(h1Group, new RegExp(`^keep 2 snapshots:\\n.*\\n.*\\n${short(h1Third)} .* h1 .* last snapshot +${alpha}\\n${short(h1Second)} .* last snapshot`, 'm'));
    assert.match(h1Group, new RegExp(`^remove 1 snapshot:\\n.*\\n.*\\n${short(h1First)} .* h1 +daily +${alpha}$`, 'm'));
    assert.match(text, /^dry run: 1 snapshot would be removed; nothing was removed$/m);
    assert.deepEqual(await snapshotIds(), all);
    const json = jsonLines(await ok(['forget', '--keep-last', '2', '--dry-run', '--json']));
    assert.equal(json.length, 1, 'one JSON object');
    const result = json[0] as unknown as ForgetJson;
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.removed, []);
    assert.deepEqual(result.groups.map((group) => [group.key?.hostname, group.remove.map((snapshot) => snapshot.id)]), [['h1', [h1First]], ['h2', []], ['h3', []]]);
    assert.deepEqual(await snapshotIds(), all);
  });

  await t.test('forget gives every reason: tags and keep-within as well as counts', async () => {
    const run = await ok(['forget', '--keep-tag', 'offsite', '--keep-within', '1h', '--group-by', '', '--dry-run', '--json', '--prune']);
    const [result] = jsonLines(run) as unknown as ForgetJson[];
    assert.equal(result!.groups.length, 1, '--group-by "" puts every snapshot in one group');
    const reasons = new Map(result!.groups[0]!.keep.map((snapshot) => [snapshot.id, snapshot.reasons]));
    assert.deepEqual(reasons.get(h2Second), ['tag offsite', 'within 1h']);
    assert.deepEqual(reasons.get(h3Only), ['within 1h']);
    assert.equal(reasons.size, 6, 'every snapshot of this test is younger than an hour');
    assert.match(run.stderr, /--prune does nothing in a dry run/);
  });

  await t.test('forget --keep-last 1 --host h1 removes exactly h1\'s older snapshots and leaves other hosts', async () => {
    const text = (await ok(['forget', '--keep-last', '1', '--host', 'h1', '--prune'])).stdout.toString('utf8');
    assert.match(text, /packs deleted/, 'forget --prune prunes after the forget');
    assert.match(text, new RegExp(`^${short(h1Third)} .* last snapshot`, 'm'));
    assert.match(text, /^removed 2 snapshots$/m);
    assert.doesNotMatch(text, /host "h2"/, 'the filter leaves h2 out of the policy');
    assert.deepEqual(await snapshotIds(), [h2First, h2Second, h1Third, h3Only]);
  });

  await t.test('forget ID removes that snapshot only, by a short id', async () => {
    const [result] = jsonLines(await ok(['forget', h2First.slice(0, 6), '--json'])) as unknown as ForgetJson[];
    assert.deepEqual(result!.removed, [h2First]);
    assert.deepEqual(await snapshotIds(), [h2Second, h1Third, h3Only]);
    const both = await run(['forget', h2Second.slice(0, 6), '--keep-last', '1']);
    assert.equal(both.exitCode, 1, 'ids and a policy together are refused');
    assert.deepEqual(await snapshotIds(), [h2Second, h1Third, h3Only]);
    await ok(['check']);
  });
});
