/**
 * The kill -9 soak (npm run soak:kill): HOLDFAST_KILL_COUNT kills (default 50) of every
 * operation in src/test-support/kill-operations.ts, each followed by `check --read-data`, with a
 * completion and `restore latest` compared with the source every 10 kills and at the end.
 * Prints one line per kill and a table: operation, kills, kills that landed mid-operation and
 * after the process had finished, killed runs that left packs, reuse hits and misses, failures,
 * and how the runs the signal reached ended.
 *
 * The SIGINT soak (npm run soak:interrupt) is the same loop with HOLDFAST_KILL_SIGNAL=SIGINT
 * over the backup rows: every run the SIGINT reaches must end with 130 (never 134, Node aborted
 * under a worker's native code) and leave no lock, and the next finished backup must reuse what
 * the interrupted runs stored.
 *
 * Environment: HOLDFAST_KILL_COUNT, HOLDFAST_KILL_RUN_SEED (default: random, printed),
 * HOLDFAST_KILL_OPERATION (only the operations of these names, comma-separated), HOLDFAST_KILL_SEED (replay one
 * iteration seed a failure printed), HOLDFAST_KILL_SOURCE_MIB (large file of the backup rows,
 * default 40), HOLDFAST_KILL_SIGNAL (SIGKILL, the default, or SIGINT). Exit code 1 when a kill
 * failed or a finished backup did not reuse what killed runs stored.
 */
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { replayFromEnvironment, runKillLoop, type KillLoopResult } from '../src/test-support/kill-loop.js';
import { killOperations } from '../src/test-support/kill-operations.js';

const kills = Number(process.env['HOLDFAST_KILL_COUNT'] ?? 50);
const runSeed = Number(process.env['HOLDFAST_KILL_RUN_SEED'] ?? randomInt(2 ** 31)) >>> 0;
const sourceMiB = Number(process.env['HOLDFAST_KILL_SOURCE_MIB'] ?? 40);
const completeEvery = 10;
const replay = replayFromEnvironment();
const signal = process.env['HOLDFAST_KILL_SIGNAL'] ?? 'SIGKILL';
if (signal !== 'SIGKILL' && signal !== 'SIGINT') throw new RangeError(`HOLDFAST_KILL_SIGNAL must be SIGKILL or SIGINT, not "${signal}"`);

if (!(Number.isInteger(kills) && kills > 0)) throw new RangeError(`HOLDFAST_KILL_COUNT must be a positive integer, not "${process.env['HOLDFAST_KILL_COUNT']}"`);
const operations = killOperations({ backupSourceBytes: sourceMiB * 1024 * 1024, otherSourceBytes: 1024 * 1024 }).filter((operation) => replay.operation === undefined || replay.operation.split(',').includes(operation.name));
if (operations.length === 0) throw new Error(`no operation is named "${replay.operation}"`);

const startedMs = Date.now();
console.log(`kill soak (${signal}): run seed ${runSeed}, ${replay.onlySeed === undefined ? `${kills} kills per operation` : `replay of seed ${replay.onlySeed}`}, backup source ${sourceMiB} MiB`);
const results: KillLoopResult[] = [];
for (const operation of operations) {
  results.push(await runKillLoop(operation, { runSeed, kills, completeEvery, parentDirectory: tmpdir(), ...(replay.onlySeed === undefined ? {} : { onlySeed: replay.onlySeed }), signal, log: (line) => console.log(line) }));
}

const header = ['operation', 'unkilled ms', 'kills', 'mid-operation', 'after finish', 'left packs', 'completions', 'reuse hit', 'reuse miss', 'failures', 'seconds', 'endings'];
const rows = results.map((result) =>
  result.skipped !== null
    ? [result.operation, `SKIPPED: ${result.skipped}`]
    : [result.operation, result.measuredDurationMs, result.kills, result.killedMidOperation, result.finishedBeforeKill, result.killedWithNewPacks, result.completions, result.reuseHits.length, result.reuseMisses.length, result.failures.length, Math.round(result.elapsedMs / 1000), describeEndings(result.endings)].map(String),
);
const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row.length === header.length ? (row[column] ?? '').length : 0))));
console.log(`\nkill soak summary (${signal}, run seed ${runSeed}, ${Math.round((Date.now() - startedMs) / 1000)} s)`);
for (const row of [header, ...rows]) console.log(row.length === header.length ? row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ') : row.join('  '));
for (const result of results) {
  for (const miss of result.reuseMisses) console.log(`reuse miss, ${result.operation}: ${miss}`);
  for (const failure of result.failures) console.log(`\nFAILURE, ${result.operation}:\n${failure}`);
}
const skipped = results.filter((result) => result.skipped !== null);
if (skipped.length > 0) console.log(`\n!!! ${skipped.length} operations were SKIPPED (verb missing): ${skipped.map((result) => result.operation).join('; ')} !!!`);
process.exitCode = results.some((result) => result.failures.length > 0 || result.reuseMisses.length > 0) ? 1 : 0;

/** "exit 130: 47, signal SIGINT: 3": how the runs the signal reached ended. */
function describeEndings(endings: Record<string, number>): string {
  return Object.entries(endings)
    .map(([ending, count]) => `${ending}: ${count}`)
    .join(', ');
}
