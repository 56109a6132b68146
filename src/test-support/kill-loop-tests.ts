/**
 * The node:test form of the kill loop (kill-loop.ts), for test/crash-kill*.test.ts: one test per
 * operation of kill-operations.ts, with fixed run seeds, a few kills each and one completion
 * with a restore at the end. A row whose verb is missing is skipped with the reason. Honours
 * HOLDFAST_KILL_OPERATION and HOLDFAST_KILL_SEED (replay of one iteration a failure printed).
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { replayFromEnvironment, runKillLoop, type KillLoopResult } from './kill-loop.js';
import { killOperations, type KillOperationSizes } from './kill-operations.js';
import { requireTools } from './requirements.js';

/** One run seed per row, fixed: every CI run draws the same delays. */
const runSeeds = [0x6b696c6c, 0x0d1e5eed, 0x7a11b4c3, 0x3c0ffee5, 0x1badd00d, 0x5ca1ab1e, 0x0ddba11, 0x600dcafe, 0x4b1d0000, 0x2bad2bad];

export interface KillLoopTestOptions {
  /** The rows (by name) this file runs. */
  operations: readonly string[];
  killsPerOperation: number;
  sizes: KillOperationSizes;
}

/** Defines the tests; the results (reuse hits and misses) are filled in as they run. */
export function defineKillLoopTests(options: KillLoopTestOptions): KillLoopResult[] {
  const replay = replayFromEnvironment();
  const results: KillLoopResult[] = [];
  const all = killOperations(options.sizes);
  for (const name of options.operations) {
    const index = all.findIndex((operation) => operation.name === name);
    const operation = all[index];
    if (operation === undefined) throw new Error(`no kill-loop row is named "${name}"`);
    if (replay.operation !== undefined && replay.operation !== name) continue;
    test(`a kill -9 at any moment of "${name}" leaves a repository that check --read-data accepts and that restores exactly`, async (t) => {
      if (!requireTools(t, 'python3')) return;
      const result = await runKillLoop(operation, {
        runSeed: runSeeds[index % runSeeds.length]!,
        kills: options.killsPerOperation,
        // One completion, after the last kill: a completion costs four CLI runs.
        completeEvery: options.killsPerOperation,
        // check --read-data already opens every snapshot file; snapshots --json runs at the completion.
        listSnapshotsAfterKill: false,
        parentDirectory: tmpdir(),
        ...(replay.onlySeed === undefined ? {} : { onlySeed: replay.onlySeed }),
        log: (line) => t.diagnostic(line),
      });
      results.push(result);
      if (result.skipped !== null) {
        t.skip(`SKIPPED: ${result.skipped}`);
        return;
      }
      assert.deepEqual(result.failures, [], result.failures.join('\n\n'));
      assert.equal(result.kills, replay.onlySeed === undefined ? options.killsPerOperation : 1);
      assert.equal(result.completions, 1, 'the operation was run to completion and restored');
      t.diagnostic(`${result.killedMidOperation} kills landed mid-operation, ${result.finishedBeforeKill} after it had finished; ${result.killedWithNewPacks} killed runs left packs`);
    });
  }
  return results;
}
