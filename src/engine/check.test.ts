/**
 * check beside a forget: a snapshot file removed between check's listing of snapshots/ and its
 * reading is gone, not damaged. check passes with no problem and does not count it.
 *
 * How: a real repository in a temporary directory (test KDF), two snapshots saved, and check's
 * own progress callback, which runs just before each snapshot file is read, removes both files
 * at the first call, as a forget running beside it would, deterministically.
 */
import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Snapshot } from '../format/repo/snapshot-codec.js';
import { testKdfParameters } from '../repo/key-file.js';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { TraceRecorder } from '../trace/trace-recorder.js';
import { checkRepository, type CheckProblem } from './check.js';
import { withRepository } from './repository-session.js';

function emptySnapshot(time: string): Snapshot {
  return {
    version: 1,
    time,
    hostname: 'test',
    username: 'test',
    paths: ['/nothing'],
    tags: [],
    parent: null,
    trees: [],
    summary: { entries: 0, files: 0, dataBytes: 0, filesUnchanged: 0, chunksAdded: 0, rawBytesAdded: 0, storedBytesAdded: 0, problems: 0, durationMs: 0 },
  };
}

test('checkRepository() takes snapshot files removed after its listing (a forget beside it) as gone, not as damage', async () => {
  using directory = temporaryDirectory();
  const location = join(directory.path, 'repository');
  const recorder = new TraceRecorder();
  try {
    await withRepository({ location, password: Buffer.from('pw'), recorder, create: { hostname: 'test', username: 'test', kdf: testKdfParameters } }, async ({ repository }) => {
      const saved = [await repository.saveSnapshot(emptySnapshot('2026-12-01T00:00:00.000Z')), await repository.saveSnapshot(emptySnapshot('2026-12-02T00:00:00.000Z'))];
      const problems: CheckProblem[] = [];
      let removed = false;
      const summary = await checkRepository(repository, {
        readData: false,
        onProblem: (problem) => problems.push(problem),
        onProgress: (stage) => {
          if (stage !== 'check snapshots' || removed) return;
          removed = true;
          for (const name of saved) unlinkSync(join(location, 'snapshots', name));
        },
      });
      assert.ok(removed, 'the snapshots were removed between the listing and the reading');
      assert.deepEqual(problems, [], 'no problem is reported');
      assert.equal(summary.snapshots, 0, 'a snapshot that is gone is not counted as checked');
      assert.deepEqual(summary.damagedSnapshots, []);
    });
  } finally {
    recorder.close();
  }
});
