/**
 * The seeded kill -9 loop: crash consistency as a user meets it. An operation (a row of the
 * table in kill-operations.ts) runs as the real CLI in its own process and is killed with SIGKILL
 * at a moment drawn from a seed; then `check --read-data` must pass (packs no index names are
 * not problems), `snapshots --json` must list only whole snapshots, and the operation's own
 * invariants must hold. Every `completeEvery` kills, and at the end, the operation runs to
 * completion and `restore latest` must give the source back with zero differences
 * (compareTrees, which shares no code with holdfast).
 *
 * Timing: one unkilled run measures the operation's duration (spawn to exit, Node's start
 * included, as a user's kill would land); each kill delay is then uniform in
 * [0, 1.2 x duration], so some kills land after the process has finished (counted apart; such a
 * run must have exited 0).
 *
 * Seeds: the run seed gives one seed per iteration; an iteration's seed draws its kill delay and
 * whatever it changes in the source. A failure names the operation, the iteration seed and the
 * delay; HOLDFAST_KILL_SEED=<seed> (with HOLDFAST_KILL_OPERATION=<name>) runs that one iteration
 * again on a freshly set-up repository, then completes it. A kill is a race with the process, so
 * a replay lands at the same delay, not always at the same instruction.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng } from '../base/prng.js';
import { compareTrees } from './compare-trees.js';
import { jsonLines, runHoldfast, type HoldfastRun } from './run-holdfast.js';

const cliPath = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
/** A killed run never takes this long; one that does is hung, and fails. */
const killedRunDurationMsMax = 240_000;
/** Kill delays are drawn from [0, killWindowFactor x measured duration]. */
export const killWindowFactor = 1.2;

/** What one operation's loop knows; the table's hooks read and update it. */
export interface KillContext {
  readonly operation: string;
  readonly workDirectory: string;
  readonly repository: string;
  readonly source: string;
  /** The password that opens the repository now (key passwd changes it). */
  password: string;
  /** The password an operation that sets one (key add, key passwd) gives this run. */
  newPassword: string;
  /** The seed of the iteration running now; its generator draws the delay first. */
  seed: number;
  random: Prng;
  iteration: number;
  /** Bytes of the source that no finished backup holds yet (a finished backup must store them). */
  newSourceBytes: number;
  /** Packs that killed runs left since the last finished backup. */
  packsFromKilledRuns: number;
  /** Hook state of the operation. */
  readonly state: Record<string, unknown>;
  /** The CLI with this repository and password (and `env` over them). */
  run(args: readonly string[], env?: Record<string, string>): Promise<HoldfastRun>;
  /** As run(), and the exit code must be 0. */
  ok(args: readonly string[], env?: Record<string, string>): Promise<HoldfastRun>;
  /** Records an observation that is not a failure (shown by the soak's table). */
  note(kind: 'reuse-hit' | 'reuse-miss', detail: string): void;
}

export interface KillOperation {
  name: string;
  /** The CLI verb; when `holdfast <verb> --help` fails the operation is skipped, loudly. */
  verb: string;
  /** Once, before the measurement: the source and the repository. */
  setup(context: KillContext): Promise<void>;
  /** Before every run: puts the repository and source in the state the operation starts from. */
  prepare?(context: KillContext): Promise<void>;
  argv(context: KillContext): string[];
  env?(context: KillContext): Record<string, string>;
  /** After a kill, before check: the operation's invariants; may find which password opens. */
  afterKill?(context: KillContext, before: RepositoryCounts): Promise<void>;
  /** After a run that exited 0 (the measurement, a completion, a kill that came too late). */
  afterFinished?(context: KillContext, run: HoldfastRun): Promise<void>;
}

export interface RepositoryCounts {
  packs: number;
  snapshots: number;
  keys: number;
}

export interface KillLoopOptions {
  runSeed: number;
  kills: number;
  /** Run to completion and restore after this many kills (and always at the end). */
  completeEvery: number;
  /** The loop makes its own directory under here and removes it unless something failed. */
  parentDirectory: string;
  /** Also run snapshots --json after each kill (check already loads every snapshot); default true. */
  listSnapshotsAfterKill?: boolean;
  /** Replay: run only this iteration seed. */
  onlySeed?: number;
  /**
   * The signal each run gets (default SIGKILL). SIGINT asks for an orderly stop: a run it
   * reaches must then end with 130 (as a shell reports it: exit code 130, or killed by SIGINT
   * itself while Node was still starting) and leave no lock; any other outcome is a failure.
   */
  signal?: 'SIGKILL' | 'SIGINT';
  log?: (line: string) => void;
}

export interface KillLoopResult {
  operation: string;
  /** Why the operation was not run (its verb is missing), or null. */
  skipped: string | null;
  runSeed: number;
  measuredDurationMs: number;
  kills: number;
  killedMidOperation: number;
  finishedBeforeKill: number;
  /** Killed runs that left at least one new pack in data/. */
  killedWithNewPacks: number;
  completions: number;
  reuseHits: string[];
  reuseMisses: string[];
  failures: string[];
  elapsedMs: number;
  /** Runs the signal reached, by how they ended: "exit 130", "signal SIGINT", "exit 134"... */
  endings: Record<string, number>;
}

/** Counts of data/, snapshots/ and keys/ as list() sees them (64-hex names; no .tmp- files). */
export async function repositoryCounts(repository: string): Promise<RepositoryCounts> {
  const names = async (directory: string): Promise<string[]> => (await readdir(directory)).filter((name) => /^[0-9a-f]{64}$/.test(name));
  let packs = 0;
  for (const prefix of await readdir(join(repository, 'data'))) packs += (await names(join(repository, 'data', prefix))).length;
  return { packs, snapshots: (await names(join(repository, 'snapshots'))).length, keys: (await names(join(repository, 'keys'))).length };
}

/** The snapshot ids in snapshots/ (64-hex names). */
export async function snapshotFiles(repository: string): Promise<string[]> {
  return (await readdir(join(repository, 'snapshots'))).filter((name) => /^[0-9a-f]{64}$/.test(name)).sort();
}

export { jsonLines } from './run-holdfast.js';

/** The environment of every run: nothing of the caller's HOLDFAST_ or XDG_ settings. */
export function cleanEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOLDFAST_') && !name.startsWith('XDG_')));
  return { ...clean, ...extra };
}

/** Whether this checkout's CLI has `verb` (its --help exits 0). */
export async function hasVerb(verb: string): Promise<boolean> {
  const run = await runHoldfast([verb, '--help'], { env: cleanEnvironment({}) });
  return run.exitCode === 0;
}

export interface KilledRun {
  /** The signal reached the process before it had exited. */
  killed: boolean;
  exitCode: number | null;
  /** The signal that ended the process, or null when it exited. */
  endSignal: NodeJS.Signals | null;
  stderr: string;
  stdout: Buffer;
}

/** Starts the CLI and sends `signal` after `delayMs` unless it has exited by then. */
function runAndKill(args: readonly string[], env: NodeJS.ProcessEnv, delayMs: number, signal: NodeJS.Signals): Promise<KilledRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, cliPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: killedRunDurationMsMax });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    let sent = false;
    const timer = setTimeout(() => (sent = child.exitCode === null && child.signalCode === null && child.kill(signal)), delayMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, endSignal) => {
      clearTimeout(timer);
      resolve({ killed: sent, exitCode: code, endSignal, stderr: Buffer.concat(stderr).toString('utf8'), stdout: Buffer.concat(stdout) });
    });
  });
}

/**
 * Starts the CLI and sends SIGKILL as soon as `condition` holds (polled every `pollMs`), unless
 * the process has exited first; `killed` says which. For a kill at an event (the first pack is
 * durable) rather than at a time.
 */
export async function runUntil(args: readonly string[], env: NodeJS.ProcessEnv, condition: () => Promise<boolean>, pollMs = 2): Promise<KilledRun> {
  const child = spawn(process.execPath, ['--import', tsxLoader, cliPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: killedRunDurationMsMax });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const closed = new Promise<KilledRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ killed: signal === 'SIGKILL', exitCode: code, endSignal: signal, stderr: Buffer.concat(stderr).toString('utf8'), stdout: Buffer.concat(stdout) }));
  });
  let running = true;
  const watching = closed.finally(() => (running = false));
  watching.catch(() => undefined); // the caller gets the rejection through the returned promise
  while (running) {
    if (await condition()) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return watching;
}

function describeRun(args: readonly string[], run: HoldfastRun): string {
  return `holdfast ${args.join(' ')} exited ${run.exitCode}\n--- stdout\n${run.stdout.toString('utf8').trim()}\n--- stderr\n${run.stderr.trim()}`;
}

function makeContext(operation: KillOperation, workDirectory: string, notes: { hits: string[]; misses: string[] }): KillContext {
  const context: KillContext = {
    operation: operation.name,
    workDirectory,
    repository: join(workDirectory, 'repository'),
    source: join(workDirectory, 'source'),
    password: 'first password',
    newPassword: '',
    seed: 0,
    random: new Prng(0),
    iteration: -1,
    newSourceBytes: 0,
    packsFromKilledRuns: 0,
    state: {},
    run: (args, env = {}) => runHoldfast(args, { env: cleanEnvironment({ HOLDFAST_REPOSITORY: context.repository, HOLDFAST_PASSWORD: context.password, XDG_CACHE_HOME: join(workDirectory, 'cache'), ...env }) }),
    ok: async (args, env = {}) => {
      const run = await context.run(args, env);
      if (run.exitCode !== 0) throw new Error(describeRun(args, run));
      return run;
    },
    note: (kind, detail) => (kind === 'reuse-hit' ? notes.hits : notes.misses).push(`iteration ${context.iteration} (seed ${context.seed}): ${detail}`),
  };
  return context;
}

function startIteration(context: KillContext, seed: number, iteration: number): void {
  context.seed = seed;
  context.iteration = iteration;
  context.random = new Prng(seed);
  context.newPassword = `password of iteration ${iteration} seed ${seed}`;
}

function operationEnvironment(operation: KillOperation, context: KillContext): NodeJS.ProcessEnv {
  return cleanEnvironment({ HOLDFAST_REPOSITORY: context.repository, HOLDFAST_PASSWORD: context.password, XDG_CACHE_HOME: join(context.workDirectory, 'cache'), ...(operation.env?.(context) ?? {}) });
}

/** Prepares and runs the operation to its end (exit 0), then restores latest and compares it with the source. */
async function complete(operation: KillOperation, context: KillContext): Promise<void> {
  // From the state the operation starts from: the last kill may have landed after its work was
  // done (a key already removed), and there would be nothing left to complete.
  await operation.prepare?.(context);
  const args = operation.argv(context);
  const env = operationEnvironment(operation, context);
  const run = await runHoldfast(args, { env });
  if (run.exitCode !== 0) throw new Error(`the operation run to completion failed: ${describeRun(args, run)}`);
  await operation.afterFinished?.(context, run);
  await checkRepository(context, true);
  const target = join(context.workDirectory, 'restored');
  await rm(target, { recursive: true, force: true });
  await context.ok(['restore', 'latest', '--target', target]);
  // A whole snapshot restores by absolute path: the source is at target/<its absolute path>.
  const differences = await compareTrees(context.source, join(target, context.source));
  if (differences.length > 0) throw new Error(`restore latest differs from the source in ${differences.length} ways:\n${differences.slice(0, 20).join('\n')}`);
  await rm(target, { recursive: true, force: true });
}

/**
 * check --read-data passes (every snapshot file opens and every tree and chunk it needs loads),
 * and it counted every snapshot file there is; with `listSnapshots`, snapshots --json also lists
 * exactly those.
 */
async function checkRepository(context: KillContext, listSnapshots: boolean): Promise<void> {
  const check = await context.run(['check', '--read-data', '--json']);
  if (check.exitCode !== 0) throw new Error(`check --read-data refused the repository: ${describeRun(['check', '--read-data', '--json'], check)}`);
  const summary = jsonLines(check).find((line) => line['type'] === 'summary');
  const checked = Number(summary?.['snapshots']);
  const stored = (await snapshotFiles(context.repository)).length;
  if (checked !== stored) throw new Error(`check --read-data checked ${checked} snapshots, but snapshots/ holds ${stored}: ${describeRun(['check', '--read-data', '--json'], check)}`);
  if (!listSnapshots) return;
  const listed = jsonLines(await context.ok(['snapshots', '--json'])).map((line) => String(line['id'])).sort();
  const files = await snapshotFiles(context.repository);
  if (listed.join(',') !== files.join(',')) throw new Error(`snapshots --json lists ${listed.length} snapshots (${listed.map((id) => id.slice(0, 8)).join(', ')}) but snapshots/ holds ${files.length} (${files.map((id) => id.slice(0, 8)).join(', ')})`);
}

/** One kill: prepare, run, kill after `delayMs`, then the checks. Returns how the run ended when the signal reached it, else null. */
async function killOnce(operation: KillOperation, context: KillContext, delayMs: number, result: KillLoopResult, listSnapshots: boolean, signal: NodeJS.Signals): Promise<string | null> {
  await operation.prepare?.(context);
  const before = await repositoryCounts(context.repository);
  const args = operation.argv(context);
  const run = await runAndKill(args, operationEnvironment(operation, context), delayMs, signal);
  const ending = run.endSignal === null ? `exit ${run.exitCode}` : `signal ${run.endSignal}`;
  if (run.killed) {
    result.endings[ending] = (result.endings[ending] ?? 0) + 1;
    if (signal === 'SIGINT') await expectOrderlyStop(context, args, run, ending);
  }
  if (!run.killed) {
    const finished: HoldfastRun = { exitCode: run.exitCode ?? -1, stdout: run.stdout, stderr: run.stderr };
    if (finished.exitCode !== 0) throw new Error(`the run finished before its kill but failed: ${describeRun(args, finished)}`);
    result.finishedBeforeKill++;
    await operation.afterFinished?.(context, finished);
  } else {
    result.killedMidOperation++;
    const after = await repositoryCounts(context.repository);
    if (after.packs > before.packs) {
      result.killedWithNewPacks++;
      context.packsFromKilledRuns += after.packs - before.packs;
    }
    await operation.afterKill?.(context, before);
  }
  await checkRepository(context, listSnapshots);
  return run.killed ? ending : null;
}

/**
 * After a SIGINT that reached the process: exit code 130 (or death by SIGINT itself, which a
 * shell also reports as 130, while Node was still starting and had no handler yet), nothing
 * that looks like a crash on stderr, and no lock left.
 */
async function expectOrderlyStop(context: KillContext, args: readonly string[], run: KilledRun, ending: string): Promise<void> {
  const finished: HoldfastRun = { exitCode: run.exitCode ?? -1, stdout: run.stdout, stderr: run.stderr };
  if (!(ending === 'exit 130' || ending === 'signal SIGINT')) throw new Error(`SIGINT ended the run with ${ending}, not exit code 130: ${describeRun(args, finished)}`);
  if (/FATAL ERROR|napi_|\n\s+at /.test(run.stderr)) throw new Error(`SIGINT: the run printed a crash or a stack trace: ${describeRun(args, finished)}`);
  const locks = (await readdir(join(context.repository, 'locks'))).filter((name) => !name.startsWith('.tmp-'));
  if (locks.length > 0) throw new Error(`SIGINT: the run left ${locks.length} lock file(s) in locks/: ${describeRun(args, finished)}`);
}

/**
 * Runs `options.kills` kills of one operation (or one replayed seed) in a fresh repository.
 * Never throws for a failure of the repository: it ends the loop and is in `failures`, with the
 * seed and delay; the work directory is then kept for inspection.
 */
export async function runKillLoop(operation: KillOperation, options: KillLoopOptions): Promise<KillLoopResult> {
  const startedMs = Date.now();
  const log = options.log ?? (() => undefined);
  const result: KillLoopResult = { operation: operation.name, skipped: null, runSeed: options.runSeed, measuredDurationMs: 0, kills: 0, killedMidOperation: 0, finishedBeforeKill: 0, killedWithNewPacks: 0, completions: 0, reuseHits: [], reuseMisses: [], failures: [], elapsedMs: 0, endings: {} };
  if (!(await hasVerb(operation.verb))) {
    result.skipped = `"holdfast ${operation.verb}" does not exist in this checkout yet`;
    log(`!!! SKIPPED ${operation.name}: ${result.skipped}; its kill loop did not run !!!`);
    return result;
  }
  const workDirectory = await mkdtemp(join(options.parentDirectory, `kill-${operation.name.replace(/[^a-z0-9]+/gi, '-')}-`));
  const context = makeContext(operation, workDirectory, { hits: result.reuseHits, misses: result.reuseMisses });
  const seeds = options.onlySeed === undefined ? iterationSeeds(options.runSeed, operation.name, options.kills) : [options.onlySeed];
  let where = 'setup';
  let iterationSeed: number | null = null;
  let delayMs: number | null = null;
  try {
    startIteration(context, options.runSeed, -1);
    await operation.setup(context);
    where = 'the measuring run';
    await operation.prepare?.(context);
    const measureStartedMs = Date.now();
    const args = operation.argv(context);
    const measured = await runHoldfast(args, { env: operationEnvironment(operation, context) });
    result.measuredDurationMs = Date.now() - measureStartedMs;
    if (measured.exitCode !== 0) throw new Error(describeRun(args, measured));
    await operation.afterFinished?.(context, measured);
    log(`${operation.name}: one unkilled run takes ${result.measuredDurationMs} ms; kills land in [0, ${Math.round(killWindowFactor * result.measuredDurationMs)}] ms`);
    for (const [iteration, seed] of seeds.entries()) {
      startIteration(context, seed, iteration);
      where = `iteration ${iteration}`;
      iterationSeed = seed;
      // The delay is the iteration's first draw, so a replay of the seed draws the same one.
      delayMs = Math.round(context.random.nextFloat() * killWindowFactor * result.measuredDurationMs);
      const packsBefore = result.killedWithNewPacks;
      const ending = await killOnce(operation, context, delayMs, result, options.listSnapshotsAfterKill ?? true, options.signal ?? 'SIGKILL');
      result.kills++;
      const leftPacks = result.killedWithNewPacks > packsBefore ? ', left new packs' : '';
      log(`${operation.name} #${iteration} seed ${seed}: ${ending !== null ? `${options.signal ?? 'SIGKILL'} reached it (${ending})` : 'finished before the signal'} at ${delayMs} ms${leftPacks}; check passed`);
      const last = iteration === seeds.length - 1;
      if (last || (iteration + 1) % options.completeEvery === 0) {
        where = `the completion after iteration ${iteration}`;
        startIteration(context, (seed ^ 0x5eed) >>> 0, iteration);
        await complete(operation, context);
        result.completions++;
        log(`${operation.name}: completed after iteration ${iteration}; check passed, restore latest matches the source`);
      }
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const replay = iterationSeed === null ? 'replay: the same run seed' : `replay: HOLDFAST_KILL_OPERATION='${operation.name}' HOLDFAST_KILL_SEED=${iterationSeed}`;
    result.failures.push(
      `${operation.name} failed in ${where}: seed ${iterationSeed ?? 'none'}, kill delay ${delayMs ?? 'none'} ms (run seed ${options.runSeed}, window ${Math.round(killWindowFactor * result.measuredDurationMs)} ms)\n` +
        `${replay}; work directory kept: ${workDirectory}\n${message}`,
    );
    log(result.failures.at(-1)!);
  }
  result.elapsedMs = Date.now() - startedMs;
  if (result.failures.length === 0) await rm(workDirectory, { recursive: true, force: true });
  return result;
}

/** The iteration seeds of one operation's loop: a function of the run seed and the operation's name. */
export function iterationSeeds(runSeed: number, operationName: string, count: number): number[] {
  let nameHash = 0x811c9dc5;
  for (const character of operationName) nameHash = Math.imul(nameHash ^ character.charCodeAt(0), 0x01000193) >>> 0;
  const random = new Prng((runSeed ^ nameHash) >>> 0);
  return Array.from({ length: count }, () => random.nextUint32());
}

/** The replay settings from the environment: HOLDFAST_KILL_SEED and HOLDFAST_KILL_OPERATION. */
export function replayFromEnvironment(): { onlySeed?: number; operation?: string } {
  const seed = process.env['HOLDFAST_KILL_SEED'];
  const operation = process.env['HOLDFAST_KILL_OPERATION'];
  return { ...(seed === undefined || seed === '' ? {} : { onlySeed: Number(seed) >>> 0 }), ...(operation === undefined || operation === '' ? {} : { operation }) };
}
