/**
 * Crash consistency of the key verbs: a kill -9 at any moment of key add, key passwd and
 * key remove (of a second key) leaves a repository that `check --read-data` accepts and that a
 * password still opens: after a killed key passwd the old or the new password opens it (the new
 * one is tried when the old is refused with exit 12), and while the old one does, the same passwd
 * run again finishes the change; a half-added key is either absent or opens with its password, a
 * half-removed key is either gone or opens with its password, and the snapshots are untouched.
 * After a finished key passwd (or its rerun) the old password opens nothing and exactly one key
 * is left, which the new password opens.
 *
 * How: as test/crash-kill.test.ts (src/test-support/kill-loop.ts, fixed seeds), three kills per
 * verb, then one completion and a restore compared with the source by compareTrees(). Replay:
 * HOLDFAST_KILL_OPERATION=<name> HOLDFAST_KILL_SEED=<seed>.
 */
import { defineKillLoopTests } from '../src/test-support/kill-loop-tests.js';

defineKillLoopTests({
  operations: ['key add', 'key passwd', 'key remove'],
  killsPerOperation: 3,
  sizes: { backupSourceBytes: 20 * 1024 * 1024, otherSourceBytes: 256 * 1024 },
});
