/**
 * Crash consistency of the verbs that remove: a kill -9 at any moment of forget --keep-last 1,
 * prune and forget --keep-last 2 --prune leaves a repository that `check --read-data` accepts,
 * and after the operation completes `restore latest` gives the source back with zero
 * differences. A row whose verb this checkout lacks is skipped with the reason. (repair:
 * test/crash-kill-repair.test.ts.)
 *
 * How: as test/crash-kill.test.ts (src/test-support/kill-loop.ts, fixed seeds), two kills per
 * operation (their setup makes several snapshots, and each file must stay well inside the
 * runner's five minutes on a busy machine; the soak runs 50); before each run the rows make
 * what their verb works on (more snapshots to forget, a forgotten snapshot whose data prune
 * removes). Replay: HOLDFAST_KILL_OPERATION=<name> HOLDFAST_KILL_SEED=<seed>.
 */
import { defineKillLoopTests } from '../src/test-support/kill-loop-tests.js';

defineKillLoopTests({
  operations: ['forget --keep-last 1', 'prune', 'forget --keep-last 2 --prune'],
  killsPerOperation: 2,
  sizes: { backupSourceBytes: 20 * 1024 * 1024, otherSourceBytes: 256 * 1024 },
});
