/**
 * The verbs a restic user reaches for: tag, unlock, cat, dump and generate, as a user runs them.
 *
 * How: a small tree (a text file, a sparse file with data at 2 MB, a subdirectory) is backed up
 * with the real CLI. tag changes tags and `snapshots --tag` must find by them; unlock removes a
 * lock planted by a killed process and keeps a live one; cat prints the config, a snapshot and a
 * key as JSON; dump writes a file byte for byte (cmp against the source) and a directory as a tar
 * that GNU tar extracts to the same bytes; generate writes completions that bash, zsh and fish
 * accept (and bash completes verbs and options with), and man pages groff formats without a
 * warning.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireTools } from '../src/test-support/requirements.js';
import { runHoldfast, type HoldfastRun } from '../src/test-support/run-holdfast.js';
import { temporaryDirectory } from '../src/test-support/temporary-directory.js';

function lines(run: HoldfastRun): string[] {
  return run.stdout.toString('utf8').split('\n').filter((line) => line !== '');
}

test('tag, unlock, cat, dump and generate do what restic users expect', async (t) => {
  using directory = temporaryDirectory();
  const root = join(directory.path, 'tree');
  const repository = join(directory.path, 'repository');
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_REPOSITORY: repository, HOLDFAST_PASSWORD: 'verbs password', XDG_CACHE_HOME: join(directory.path, 'cache') };
  delete env['HOLDFAST_PASSWORD_FILE'];
  const run = (args: string[]): Promise<HoldfastRun> => runHoldfast(args, { env });
  const ok = async (args: string[]): Promise<HoldfastRun> => {
    const result = await run(args);
    assert.equal(result.exitCode, 0, `holdfast ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
    return result;
  };

  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'alpha\n');
  writeFileSync(join(root, 'sub', 'b.txt'), 'beta\n'.repeat(1000));
  const sparse = Buffer.alloc(3 * 1024 * 1024);
  sparse.write('data in the middle', 2_000_000);
  writeFileSync(join(root, 'sparse'), sparse);
  spawnSync('fallocate', ['--dig-holes', join(root, 'sparse')]);
  await ok(['init']);
  await ok(['backup', root]);
  const snapshotIds = (): Promise<string[]> => ok(['snapshots', '--json']).then((result) => lines(result).map((line) => String((JSON.parse(line) as { id: string }).id)));

  await t.test('tag --add a,b adds two tags, --remove and --set change them, and the filter finds by each', async () => {
    const [before] = await snapshotIds();
    await ok(['tag', '--add', 'daily,db', 'latest']);
    assert.equal(lines(await ok(['snapshots', '--tag', 'db'])).at(-1), '1 snapshot');
    assert.equal(lines(await ok(['snapshots', '--tag', 'daily'])).at(-1), '1 snapshot');
    const [after] = await snapshotIds();
    assert.notEqual(after, before, 'a retagged snapshot is a new file');
    const retagged = JSON.parse((await ok(['cat', 'snapshot', after!.slice(0, 8)])).stdout.toString('utf8')) as { tags: string[]; original: string };
    assert.deepEqual(retagged.tags, ['daily', 'db']);
    assert.equal(retagged.original, before);
    await ok(['tag', '--remove', 'db', after!.slice(0, 8)]);
    assert.equal(lines(await ok(['snapshots', '--tag', 'db'])).at(-1), '0 snapshots');
    await ok(['tag', '--set', 'weekly']);
    const [last] = lines(await ok(['snapshots', '--json'])).map((line) => JSON.parse(line) as { tags: string[]; original: string });
    assert.deepEqual(last!.tags, ['weekly']);
    assert.equal(last!.original, before, 'the original id survives every retagging');
    const unchanged = await ok(['tag', '--add', 'weekly', 'latest']);
    assert.match(lines(unchanged)[0]!, /unchanged/);
    assert.equal((await run(['tag', 'latest'])).exitCode, 1, 'tag without a change is refused');
  });

  await t.test('unlock removes the lock of a process that is gone and names a live one', async () => {
    // A backup stopped (SIGSTOP) while it holds its lock is a live holder; one killed is gone.
    const big = join(directory.path, 'big');
    mkdirSync(big);
    for (let index = 0; index < 40; index++) writeFileSync(join(big, `file-${index}`), Buffer.alloc(1024 * 1024, index));
    // The live one first: a lock taker removes the stale locks it finds.
    const live = await lockedBackup(env, big);
    const killed = await lockedBackup(env, big);
    killed.kill('SIGKILL');
    await new Promise((resolve) => killed.once('exit', resolve));
    try {
      const result = await ok(['unlock']);
      const output = lines(result);
      assert.equal(output.filter((line) => line.startsWith('removed stale')).length, 1, result.stdout.toString());
      assert.equal(output.filter((line) => line.startsWith('live ')).length, 1, result.stdout.toString());
      assert.equal(readdirSync(join(repository, 'locks')).length, 1);
      await ok(['unlock', '--remove-all']);
      assert.equal(readdirSync(join(repository, 'locks')).length, 0);
    } finally {
      live.kill('SIGKILL');
      await new Promise((resolve) => live.once('exit', resolve));
    }
  });

  await t.test('cat prints the config, a snapshot and a key as JSON, and never the master key', async () => {
    const config = JSON.parse((await ok(['cat', 'config'])).stdout.toString('utf8')) as { format: string; id: string };
    assert.equal(config.format, 'holdfast-repository');
    const keyName = readdirSync(join(repository, 'keys'))[0]!;
    const keyText = (await ok(['cat', 'key', keyName.slice(0, 6)])).stdout.toString('utf8');
    const key = JSON.parse(keyText) as { id: string; kdf: { name: string } };
    assert.equal(key.id, keyName);
    assert.equal(key.kdf.name, 'argon2id');
    assert.doesNotMatch(keyText, /master|wrapped|encrypted/i);
    assert.equal((await run(['cat', 'key', 'ffff'])).exitCode, 1);
    assert.equal((await run(['cat', 'nonsense'])).exitCode, 1);
  });

  await t.test('dump writes a file byte for byte, holes as zeros, and a directory as a tar GNU tar extracts', async () => {
    const file = await ok(['dump', 'latest', join(root, 'sparse')]);
    assert.ok(file.stdout.equals(sparse), 'the sparse file dumps to its exact bytes');
    const text = await ok(['dump', 'latest', `${root}/a.txt`]);
    assert.equal(text.stdout.toString('utf8'), 'alpha\n');
    const tarFile = join(directory.path, 'sub.tar');
    await ok(['dump', 'latest', join(root, 'sub'), '-o', tarFile]);
    const extracted = join(directory.path, 'extracted');
    mkdirSync(extracted);
    const tar = spawnSync('tar', ['-xf', tarFile, '-C', extracted], { encoding: 'utf8' });
    assert.equal(tar.status, 0, tar.stderr);
    assert.deepEqual(readdirSync(extracted), ['sub']);
    assert.equal(readFileSync(join(extracted, 'sub', 'b.txt'), 'utf8'), 'beta\n'.repeat(1000));
    const whole = await ok(['dump', 'latest', '/']);
    const listing = spawnSync('tar', ['-tf', '-'], { input: whole.stdout, encoding: 'utf8' });
    // The whole snapshot as tar: by absolute path (without "/"), the directories above the root first.
    const names = listing.stdout.split('\n').filter((line) => line !== '');
    const rootName = root.slice(1);
    assert.deepEqual(names.filter((name) => name.startsWith(`${rootName}/`)).sort(), ['', 'a.txt', 'sparse', 'sub/', 'sub/b.txt'].map((name) => `${rootName}/${name}`));
    assert.deepEqual(names.filter((name) => !name.startsWith(`${rootName}/`)), rootName.split('/').slice(0, -1).map((_, index, parts) => `${parts.slice(0, index + 1).join('/')}/`));
    const missing = await run(['dump', 'latest', join(root, 'no-such-file')]);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr, /HOLDFAST_MISSING/);
  });

  await t.test('generate writes completions the shells accept and man pages groff formats', async (t) => {
    if (!requireTools(t, 'bash', 'zsh', 'fish', 'groff')) return;
    const out = join(directory.path, 'generated');
    mkdirSync(out);
    await ok(['generate', '--bash-completion', join(out, 'holdfast.bash'), '--zsh-completion', join(out, '_holdfast'), '--fish-completion', join(out, 'holdfast.fish'), '--man', join(out, 'man')]);
    for (const [shell, file] of [['bash', 'holdfast.bash'], ['zsh', '_holdfast'], ['fish', 'holdfast.fish']] as const) {
      const syntax = spawnSync(shell, ['-n', join(out, file)], { encoding: 'utf8' });
      assert.equal(syntax.status, 0, `${shell} -n ${file}: ${syntax.stderr}`);
    }
    const complete = (words: string): string => {
      const script = `source ${join(out, 'holdfast.bash')}; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _holdfast; echo "\${COMPREPLY[*]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.trim();
    };
    assert.deepEqual(complete('holdfast ba').split(' '), ['backup']);
    assert.ok(complete('holdfast -r /x forget --keep-d').split(' ').includes('--keep-daily'));
    assert.ok(complete('holdfast dump --').split(' ').includes('--output'));
    const pages = readdirSync(join(out, 'man')).sort();
    assert.ok(pages.includes('holdfast.1') && pages.includes('holdfast-backup.1') && pages.includes('holdfast-generate.1'), pages.join(' '));
    for (const page of pages) {
      const formatted = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(out, 'man', page)], { encoding: 'utf8' });
      assert.equal(formatted.status, 0, formatted.stderr);
      assert.equal(formatted.stderr, '', `${page}: ${formatted.stderr}`);
    }
    const bash = await ok(['generate', '--bash-completion', '-']);
    assert.match(bash.stdout.toString('utf8'), /complete -o filenames -F _holdfast holdfast/);
  });

  await ok(['check']);
});

/** A backup of `source` started and stopped (SIGSTOP) once its lock is in locks/. */
async function lockedBackup(env: NodeJS.ProcessEnv, source: string): Promise<ReturnType<typeof spawn>> {
  const locks = join(String(env['HOLDFAST_REPOSITORY']), 'locks');
  const before = new Set(readdirSync(locks));
  const cliPath = new URL('../src/cli/main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), cliPath, 'backup', source], { env, stdio: 'ignore' });
  for (let waitedMs = 0; waitedMs < 60_000; waitedMs += 20) {
    if (readdirSync(locks).some((name) => !before.has(name) && !name.startsWith('.tmp-'))) {
      child.kill('SIGSTOP');
      return child;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  throw new Error('the backup took no lock within 60 s');
}
