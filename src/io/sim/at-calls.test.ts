/**
 * The simulator implements the *at calls of rule D4 as the real machine does: a name is looked
 * up in the directory a handle was opened on, wherever that directory has been renamed since,
 * and a close() of the directory handle waits for the *at calls in flight on it (rule H1).
 *
 * How: seeded runs with late and reordered completions; the directory is renamed and its handle
 * closed while calls on it are pending. After each run: every call found the directory under its
 * new name, none reached a closed or recycled fd (the simulator's violations), every fd was
 * released.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachSeed } from './simulation.js';

test('*at calls reach a held directory after it was renamed, and its close() waits for them, for every seed', async () => {
  await forEachSeed(50, { faults: { late: 0.3 } }, async (simulation) => {
    const { io, backend } = simulation;
    backend.fileSystem.create('/target', 'directory');
    backend.fileSystem.create('/target/held', 'directory');
    const held = await io.openDirectory('/target/held');
    backend.fileSystem.rename('/target/held', '/target/moved');
    await io.makeDirectoryAt(held, Buffer.from('sub'));
    const file = await io.openFileAt(held, Buffer.from('file'), { access: 'write', create: 'exclusive' });
    await file.close();
    const pending = [io.lstatAt(held, Buffer.from('sub')), io.lstatAt(held, Buffer.from('file')), io.makeDirectoryAt(held, Buffer.from('other'))];
    const closed = held.close();
    const [sub, created] = await Promise.all(pending);
    await closed;
    assert.equal(sub?.kind, 'directory');
    assert.equal(created?.kind, 'file');
    assert.deepEqual(backend.fileSystem.list('/target/moved'), ['file', 'other', 'sub']);
    const again = await io.openDirectory('/target/moved');
    await io.removeDirectoryAt(again, Buffer.from('other'));
    await io.unlinkAt(again, Buffer.from('file'));
    await assert.rejects(io.unlinkAt(again, Buffer.from('sub')), { code: 'EISDIR' });
    await again.close();
    assert.deepEqual(backend.fileSystem.list('/target/moved'), ['sub']);
    assert.equal(backend.fileSystem.lookup('/target/held'), undefined);
    await assert.rejects(io.lstatAt(held, Buffer.from('file')), { code: 'HOLDFAST_HANDLE_CLOSED' });
    assert.deepEqual(simulation.violations, []);
    assert.equal(backend.openCount, 0);
  });
});
