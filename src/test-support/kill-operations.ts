/**
 * The operations the kill loop (kill-loop.ts) kills, one row each: how its repository and source
 * are set up, what each run starts from, its command line, and what must hold after a kill
 * beyond `check --read-data` (which every kill gets).
 *
 * Rows whose verb this checkout lacks (forget, prune, repair while they are being written) are
 * kept here ready; the loop skips them with a loud message until `holdfast <verb> --help` works.
 *
 * Reuse ("the next backup reuses chunks already stored"): the backup rows count the source bytes
 * no finished backup holds yet. When killed runs left packs, the next finished backup must store
 * fewer raw bytes than that (the source data is random, so nothing else deduplicates); each such
 * backup is noted as a reuse hit or miss.
 */
import { createCipheriv } from 'node:crypto';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Prng } from '../base/prng.js';
import { hasVerb, jsonLines, repositoryCounts, snapshotFiles, type KillContext, type KillOperation, type RepositoryCounts } from './kill-loop.js';
import type { HoldfastRun } from './run-holdfast.js';

export interface KillOperationSizes {
  /** The large random file of the backup rows: above 16 MiB, a killed backup writes packs mid-run. */
  backupSourceBytes: number;
  /** The source of the other rows (their time goes to key derivation and check, not data). */
  otherSourceBytes: number;
}

const secondPassword = 'second password';

/** `sizeBytes` of random bytes from `random` (AES-256-CTR keyed from it: fast, and the same for a seed). */
export function randomBytesFrom(random: Prng, sizeBytes: number): Buffer {
  const key = Buffer.alloc(32);
  random.fill(key);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(sizeBytes)), cipher.final()]);
}

/** A source tree: a large random file, a few small ones in a subdirectory, a symlink. Returns its data bytes. */
async function makeSource(context: KillContext, largeBytes: number): Promise<number> {
  await mkdir(join(context.source, 'sub'), { recursive: true });
  const large = randomBytesFrom(context.random, largeBytes);
  await writeFile(join(context.source, 'large.bin'), large);
  let total = large.length;
  for (const name of ['a.txt', 'b.txt', 'sub/c.txt']) {
    const text = `${name}: ${randomBytesFrom(context.random, 600).toString('base64')}\n`;
    await writeFile(join(context.source, name), text);
    total += text.length;
  }
  await symlink('a.txt', join(context.source, 'link'));
  return total;
}

async function initWithBackup(context: KillContext, sourceBytes: number, backup: boolean): Promise<void> {
  await makeSource(context, sourceBytes);
  await context.ok(['init']);
  if (backup) await context.ok(['backup', context.source]);
}

/** Adds a small file of new content; returns its size. */
async function addSmallFile(context: KillContext): Promise<number> {
  const bytes = randomBytesFrom(context.random, 1024 + context.random.nextInt(63 * 1024));
  await writeFile(join(context.source, 'sub', `added-${context.iteration + 1}-${context.seed}.bin`), bytes);
  return bytes.length;
}

/** Replaces the large file by one of new content; returns its size. */
async function replaceLargeFile(context: KillContext, sizeBytes: number): Promise<number> {
  for (const name of await readdir(context.source)) if (name.startsWith('large')) await rm(join(context.source, name));
  await writeFile(join(context.source, `large-${context.seed}.bin`), randomBytesFrom(context.random, sizeBytes));
  return sizeBytes;
}

async function keyNames(context: KillContext): Promise<string[]> {
  return (await readdir(join(context.repository, 'keys'))).filter((name) => /^[0-9a-f]{64}$/.test(name));
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

async function snapshotsStayed(context: KillContext, before: RepositoryCounts): Promise<void> {
  const after = await repositoryCounts(context.repository);
  expect(after.snapshots === before.snapshots, `${context.operation} changed the snapshots: ${before.snapshots} before, ${after.snapshots} after the kill`);
}

/** After a finished backup: was what killed runs stored reused? Then nothing is pending. */
function judgeReuse(context: KillContext, run: HoldfastRun): void {
  const summary = jsonLines(run).find((line) => line['type'] === 'summary');
  expect(summary !== undefined, `backup --json printed no summary: ${run.stdout.toString('utf8')}`);
  const rawBytesAdded = Number(summary!['rawBytesAdded']);
  if (context.packsFromKilledRuns > 0 && context.newSourceBytes > 0) {
    const detail = `killed runs left ${context.packsFromKilledRuns} packs; the finished backup then stored ${rawBytesAdded} raw bytes (${String(summary!['chunksAdded'])} chunks) for ${context.newSourceBytes} bytes of new source data`;
    context.note(rawBytesAdded < context.newSourceBytes ? 'reuse-hit' : 'reuse-miss', detail);
  }
  context.newSourceBytes = 0;
  context.packsFromKilledRuns = 0;
}

async function backupAfterKill(context: KillContext, before: RepositoryCounts): Promise<void> {
  const after = await repositoryCounts(context.repository);
  expect(after.snapshots === before.snapshots || after.snapshots === before.snapshots + 1, `a killed backup left ${after.snapshots - before.snapshots} new snapshots`);
  expect(after.keys === before.keys, 'a killed backup changed the keys');
  if (after.snapshots === before.snapshots + 1) {
    // It saved its snapshot before the kill: everything it wrote is indexed and referenced.
    context.newSourceBytes = 0;
    context.packsFromKilledRuns = 0;
  }
}

function backupRows(sizes: KillOperationSizes): KillOperation[] {
  const argv = (context: KillContext): string[] => ['backup', context.source, '--json'];
  return [
    {
      name: 'backup (first)',
      verb: 'backup',
      setup: async (context) => {
        context.state['sourceBytes'] = await makeSource(context, sizes.backupSourceBytes);
        context.newSourceBytes = context.state['sourceBytes'] as number;
        await context.ok(['init']);
      },
      // Each run is a first backup: once one has finished, the repository is made again.
      prepare: async (context) => {
        if ((await snapshotFiles(context.repository)).length === 0) return;
        await rm(context.repository, { recursive: true, force: true });
        await context.ok(['init']);
        context.newSourceBytes = context.state['sourceBytes'] as number;
        context.packsFromKilledRuns = 0;
      },
      argv,
      afterKill: backupAfterKill,
      afterFinished: (context, run) => Promise.resolve(judgeReuse(context, run)),
    },
    {
      name: 'backup (incremental)',
      verb: 'backup',
      setup: async (context) => {
        await initWithBackup(context, sizes.backupSourceBytes, true);
        context.state['replaceLarge'] = true;
      },
      // Every run sees a new small file; the first after a finished backup also a new large file.
      prepare: async (context) => {
        context.newSourceBytes += await addSmallFile(context);
        if (context.state['replaceLarge'] === true) context.newSourceBytes += await replaceLargeFile(context, sizes.backupSourceBytes);
        context.state['replaceLarge'] = false;
      },
      argv,
      afterKill: backupAfterKill,
      afterFinished: (context, run) => {
        judgeReuse(context, run);
        context.state['replaceLarge'] = true;
        return Promise.resolve();
      },
    },
  ];
}

/** After a finished key passwd: the old password opens nothing, and the one key left opens with the new one (which becomes the password). */
async function passwordChanged(context: KillContext): Promise<void> {
  const old = await context.run(['key', 'list']);
  expect(old.exitCode === 12, `the old password still opens the repository after key passwd finished (exit ${old.exitCode})`);
  const renewed = await context.run(['key', 'list', '--json'], { HOLDFAST_PASSWORD: context.newPassword });
  expect(renewed.exitCode === 0, `the new password does not open the repository after key passwd finished (exit ${renewed.exitCode}: ${renewed.stderr})`);
  const keys = (await keyNames(context)).length;
  expect(keys === 1, `key passwd finished with ${keys} keys, not one for the new password alone`);
  context.password = context.newPassword;
}

function keyRows(sizes: KillOperationSizes): KillOperation[] {
  const setup = async (context: KillContext): Promise<void> => {
    await initWithBackup(context, sizes.otherSourceBytes, true);
  };
  /** Removes every key but the one the current password opens. */
  const keepOnlyCurrentKey = async (context: KillContext): Promise<void> => {
    if ((await keyNames(context)).length === 1) return;
    const keys = jsonLines(await context.ok(['key', 'list', '--json']));
    for (const key of keys) if (key['current'] !== true) await context.ok(['key', 'remove', String(key['id'])]);
  };
  return [
    {
      name: 'key add',
      verb: 'key',
      setup,
      prepare: keepOnlyCurrentKey,
      argv: () => ['key', 'add'],
      env: (context) => ({ HOLDFAST_NEW_PASSWORD: context.newPassword }),
      afterKill: async (context, before) => {
        await snapshotsStayed(context, before);
        const keys = (await keyNames(context)).length;
        expect(keys === before.keys || keys === before.keys + 1, `key add left ${keys} keys (${before.keys} before)`);
        if (keys === before.keys + 1) await context.ok(['key', 'list', '--json'], { HOLDFAST_PASSWORD: context.newPassword });
      },
    },
    {
      name: 'key passwd',
      verb: 'key',
      setup,
      prepare: keepOnlyCurrentKey,
      argv: () => ['key', 'passwd'],
      env: (context) => ({ HOLDFAST_NEW_PASSWORD: context.newPassword }),
      // Killed between adding the new key and removing the old, either password opens; at
      // least one of them must, whatever the moment. While the old one still opens, the same
      // passwd run again must finish the change: then, as after any finished passwd, the old
      // password opens nothing and one key is left, which the new password opens.
      afterKill: async (context, before) => {
        await snapshotsStayed(context, before);
        const keys = (await keyNames(context)).length;
        expect(keys === 1 || keys === 2, `key passwd left ${keys} keys`);
        const old = await context.run(['key', 'list', '--json']);
        if (old.exitCode === 0) {
          const rerun = await context.run(['key', 'passwd'], { HOLDFAST_NEW_PASSWORD: context.newPassword });
          expect(rerun.exitCode === 0, `key passwd run again after a killed one exited ${rerun.exitCode}: ${rerun.stderr}`);
        } else expect(old.exitCode === 12, `key list with the old password exited ${old.exitCode}: ${old.stderr}`);
        await passwordChanged(context);
      },
      afterFinished: async (context) => {
        await passwordChanged(context);
      },
    },
    {
      name: 'key remove',
      verb: 'key',
      setup,
      prepare: async (context) => {
        const before = await keyNames(context);
        if (before.length === 1) await context.ok(['key', 'add'], { HOLDFAST_NEW_PASSWORD: secondPassword });
        const keys = jsonLines(await context.ok(['key', 'list', '--json']));
        expect(keys.length === 2, `key remove starts from ${keys.length} keys, not 2`);
        context.state['second'] = String(keys.find((key) => key['current'] !== true)!['id']);
      },
      argv: (context) => ['key', 'remove', String(context.state['second'])],
      afterKill: async (context, before) => {
        await snapshotsStayed(context, before);
        const keys = await keyNames(context);
        expect(keys.length === 1 || keys.length === 2, `key remove left ${keys.length} keys`);
        if (keys.includes(String(context.state['second']))) await context.ok(['key', 'list', '--json'], { HOLDFAST_PASSWORD: secondPassword });
      },
    },
  ];
}

/** Rows of the verbs being written now; skipped until they exist. */
function laterRows(sizes: KillOperationSizes): KillOperation[] {
  const setup = (context: KillContext): Promise<void> => initWithBackup(context, sizes.otherSourceBytes, true);
  /** Backs up new source content until there are `count` snapshots. */
  const snapshotsAtLeast = async (context: KillContext, count: number): Promise<void> => {
    while ((await snapshotFiles(context.repository)).length < count) {
      await replaceLargeFile(context, sizes.otherSourceBytes);
      await context.ok(['backup', context.source]);
    }
  };
  return [
    { name: 'forget --keep-last 1', verb: 'forget', setup, prepare: (context) => snapshotsAtLeast(context, 3), argv: () => ['forget', '--keep-last', '1'] },
    {
      name: 'prune',
      verb: 'prune',
      setup,
      // Something to prune: a snapshot whose data no other needs, forgotten.
      prepare: async (context) => {
        await replaceLargeFile(context, sizes.otherSourceBytes);
        await context.ok(['backup', context.source]);
        context.state['hasForget'] ??= await hasVerb('forget');
        if (context.state['hasForget'] === true) await context.ok(['forget', '--keep-last', '1']);
      },
      argv: () => ['prune'],
    },
    { name: 'forget --keep-last 2 --prune', verb: 'forget', setup, prepare: (context) => snapshotsAtLeast(context, 4), argv: () => ['forget', '--keep-last', '2', '--prune'] },
    { name: 'repair index', verb: 'repair', setup, argv: () => ['repair', 'index'] },
    { name: 'repair snapshots --forget', verb: 'repair', setup, argv: () => ['repair', 'snapshots', '--forget'] },
  ];
}

/** Every operation, in the order the soak runs them. */
export function killOperations(sizes: KillOperationSizes): KillOperation[] {
  return [...backupRows(sizes), ...keyRows(sizes), ...laterRows(sizes)];
}
