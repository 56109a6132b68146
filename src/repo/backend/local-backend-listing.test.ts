/**
 * LocalBackend.list() while other processes remove files: a file that vanishes between the
 * directory read and its lstat (a lock released, a pack deleted by prune, a snapshot forgotten)
 * is not an error; the listing has every file that stayed, with its size.
 *
 * How: a real directory on the real Io. The first test removes files at the one moment that
 * matters, deterministically: an Io that passes everything through but, right after a
 * readDirectory, unlinks every other name it returned (before list() gets to lstat them). The
 * second races real concurrent unlinks against listings, many rounds, as a busy repository does.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import type { FilePath } from '../../base/file-path.js';
import { BufferPool } from '../../io/buffer-pool.js';
import type { Io } from '../../io/io.js';
import { createNodeIo } from '../../io/node/create-node-io.js';
import { temporaryDirectory } from '../../test-support/temporary-directory.js';
import type { FileKind } from './backend.js';
import { LocalBackend } from './local-backend.js';

const hexName = (): string => randomBytes(32).toString('hex');
const roundsMax = 40;
const filesPerRound = 24;

/** The real Io, except that readDirectory unlinks every other file name it lists (counted across calls) before returning. */
function removingAfterListing(io: Io, removed: Set<string>): Io {
  let seen = 0;
  return new Proxy(io, {
    get(target, key) {
      if (key === 'readDirectory') {
        return async (path: FilePath): Promise<Buffer[]> => {
          const names = await target.readDirectory(path);
          for (const name of names) {
            const text = name.toString('latin1');
            if (/^[0-9a-f]{64}$/.test(text) && seen++ % 2 === 1) {
              await target.unlink(`${String(path)}/${text}`);
              removed.add(text);
            }
          }
          return names;
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function withLocation(run: (location: string, pool: BufferPool) => Promise<void>): Promise<void> {
  using directory = temporaryDirectory();
  const pool = new BufferPool({ bufferSizeBytes: 4096, bufferCountMax: 4 });
  await run(`${directory.path}/repository`, pool);
  assert.equal(pool.leasesOutstanding, 0, 'every buffer lease is back');
}

for (const kind of ['locks', 'data'] as const satisfies readonly FileKind[]) {
  test(`LocalBackend.list("${kind}") leaves out a file removed between the directory read and its lstat, and fails not`, () =>
    withLocation(async (location, pool) => {
      const writer = new LocalBackend(createNodeIo(), location, pool);
      await writer.create();
      const saved = Array.from({ length: 12 }, hexName);
      for (const name of saved) await writer.save(kind, name, Buffer.from(name.slice(0, 10)));
      const removed = new Set<string>();
      const lister = new LocalBackend(removingAfterListing(createNodeIo(), removed), location, pool);
      const listed = await lister.list(kind);
      assert.ok(removed.size > 0, 'files were removed mid-listing');
      const stayed = saved.filter((name) => !removed.has(name)).sort();
      assert.deepEqual(
        listed.map((file) => file.name).sort(),
        stayed,
        'exactly the files that stayed are listed',
      );
      for (const file of listed) assert.equal(file.sizeBytes, 10);
    }));
}

test('LocalBackend.list() never fails while files of its kind are unlinked concurrently, round after round', () =>
  withLocation(async (location, pool) => {
    const backend = new LocalBackend(createNodeIo(), location, pool);
    await backend.create();
    for (let round = 0; round < roundsMax; round++) {
      const names = Array.from({ length: filesPerRound }, hexName);
      await Promise.all(names.map((name) => backend.save('locks', name, Buffer.from('lock'))));
      const keep = new Set(names.filter((_, index) => index % 4 === 0));
      const removing = Promise.all(names.filter((name) => !keep.has(name)).map((name) => rm(`${location}/locks/${name}`)));
      const listings = await Promise.all([backend.list('locks'), backend.list('locks'), backend.list('locks')]);
      await removing;
      for (const listing of listings) {
        const listedNames = new Set(listing.map((file) => file.name));
        for (const name of keep) assert.ok(listedNames.has(name), `round ${round}: ${name.slice(0, 8)} stayed but was not listed`);
      }
      await Promise.all([...keep].map((name) => backend.remove('locks', name)));
    }
  }));
