/**
 * Crash consistency of the repair verbs: a kill -9 at any moment of repair index and
 * repair snapshots --forget leaves a repository that `check --read-data` accepts, and after the
 * operation completes `restore latest` gives the source back with zero differences. A row whose
 * verb this checkout lacks is skipped with the reason.
 *
 * How: as test/crash-kill.test.ts (src/test-support/kill-loop.ts, fixed seeds), three kills per
 * operation on a whole repository (one snapshot), then one completion and a restore compared with
 * the source by compareTrees(). Replay: HOLDFAST_KILL_OPERATION=<name> HOLDFAST_KILL_SEED=<seed>.
 */
import { defineKillLoopTests } from '../src/test-support/kill-loop-tests.js';

defineKillLoopTests({
  operations: ['repair index', 'repair snapshots --forget'],
  killsPerOperation: 3,
  sizes: { backupSourceBytes: 20 * 1024 * 1024, otherSourceBytes: 256 * 1024 },
});
