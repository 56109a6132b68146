/**
 * Shows the trace side of rule W1 with real files and real signals: the flight recorder keeps only
 * its last N events; a file recording is a JSON array that JSON.parse (and so a trace viewer)
 * accepts, also when the process died before close(); dumps are complete `{"traceEvents":[...]}`
 * files; SIGUSR2 writes a dump while the process keeps running; and an uncaught exception in a
 * child process leaves a dump before the process dies as Node makes it die. Trace files and dumps
 * are 0600 under umask 000 (set for that test in this test process, then restored).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { temporaryDirectory } from '../test-support/temporary-directory.js';
import { installFlightRecorderDumps, TraceRecorder, traceClockUs, type TraceEvent } from './trace-recorder.js';

test('the flight recorder keeps only the last flightEventsMax events, oldest first', () => {
  const recorder = new TraceRecorder({ flightEventsMax: 5 });
  for (let index = 0; index < 12; index++) recorder.instant(`event ${index}`, 'test', { index });
  assert.deepEqual(recorder.flightEvents().map((event) => event.name), ['event 7', 'event 8', 'event 9', 'event 10', 'event 11']);
  assert.equal(recorder.eventsRecorded, 12);
});

test('events are in the trace-event format, timed in microseconds of wall time', () => {
  const recorder = new TraceRecorder();
  const threadId = recorder.allocateThreadId('worker 1');
  const startUs = traceClockUs();
  recorder.complete('sum', 'pool.job', startUs, 250, threadId, { job: 1 });
  recorder.instant('idle', 'pool.worker', { worker: 1 }, threadId);
  const [complete, instant] = recorder.flightEvents();
  assert.deepEqual(complete, { name: 'sum', cat: 'pool.job', ph: 'X', ts: startUs, dur: 250, pid: process.pid, tid: threadId, args: { job: 1 } });
  assert.equal(instant?.ph, 'i');
  assert.ok(Math.abs((instant?.ts ?? 0) - Date.now() * 1000) < 1_000_000, 'ts is not wall time in microseconds');
  const names = recorder.metadataEvents().filter((event) => event.name === 'thread_name');
  assert.deepEqual(names.map((event) => [event.tid, event.args?.['name']]), [[TraceRecorder.mainThreadId, 'main'], [threadId, 'worker 1']]);
});

test('recordToFile() writes every event as a JSON array, bounded by flushes, and close() ends it', () => {
  using directory = temporaryDirectory();
  const path = join(directory.path, 'trace.json');
  const recorder = new TraceRecorder({ flightEventsMax: 10 });
  recorder.recordToFile(path);
  const threadId = recorder.allocateThreadId('worker 1');
  for (let index = 0; index < 5000; index++) recorder.complete('job', 'test', traceClockUs(), 10, threadId, { index, text: 'x'.repeat(20) });

  // A process that dies here leaves a file without its closing bracket, which viewers accept.
  recorder.flush();
  const unfinished = readFileSync(path, 'utf8');
  assert.ok(!unfinished.trimEnd().endsWith(']'));
  assert.equal((JSON.parse(`${unfinished}]`) as TraceEvent[]).filter((event) => event.ph === 'X').length, 5000);

  recorder.instant('last', 'test');
  recorder.close();
  recorder.close();
  const events = JSON.parse(readFileSync(path, 'utf8')) as TraceEvent[];
  assert.equal(events.filter((event) => event.ph === 'X').length, 5000);
  assert.equal(events.at(-1)?.name, 'last');
  assert.ok(events.some((event) => event.ph === 'M' && event.args?.['name'] === 'main'));
  assert.equal(recorder.flightEvents().length, 10);
});

test('dumpFlightRecorder() writes thread names and the ring as {"traceEvents":[...]}', () => {
  using directory = temporaryDirectory();
  const recorder = new TraceRecorder({ flightEventsMax: 3 });
  recorder.allocateThreadId('worker 1');
  for (let index = 0; index < 7; index++) recorder.instant(`event ${index}`, 'test');
  const path = recorder.dumpFlightRecorder(join(directory.path, 'dump.json'));
  const dump = JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: TraceEvent[] };
  assert.deepEqual(dump.traceEvents.filter((event) => event.ph === 'i').map((event) => event.name), ['event 4', 'event 5', 'event 6']);
  assert.ok(dump.traceEvents.some((event) => event.name === 'thread_name' && event.args?.['name'] === 'worker 1'));
  assert.deepEqual(readdirSync(directory.path), ['dump.json'], 'a partial file was left behind');
});

test('SIGUSR2 dumps the flight recorder and the process keeps running', async () => {
  using directory = temporaryDirectory();
  const dumpDirectory = join(directory.path, 'dumps', 'nested');
  const recorder = new TraceRecorder();
  recorder.instant('before the signal', 'test');
  const lines: string[] = [];
  const uninstall = installFlightRecorderDumps(recorder, dumpDirectory, (line) => lines.push(line));
  try {
    process.kill(process.pid, 'SIGUSR2');
    for (let waitedMs = 0; lines.length === 0 && waitedMs < 5000; waitedMs += 10) await sleep(10);
  } finally {
    uninstall();
  }
  assert.equal(lines.length, 1);
  const [name] = readdirSync(dumpDirectory);
  assert.match(name ?? '', new RegExp(`^holdfast-flight-${process.pid}-\\d{8}T\\d{9}Z\\.json$`));
  const path = join(dumpDirectory, name ?? '');
  assert.ok(lines[0]?.includes(path), lines[0]);
  const dump = JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: TraceEvent[] };
  assert.ok(dump.traceEvents.some((event) => event.name === 'before the signal'));
  assert.ok(dump.traceEvents.some((event) => event.name === 'SIGUSR2'));
  assert.equal(process.listenerCount('SIGUSR2'), 0);
  assert.equal(process.listenerCount('uncaughtExceptionMonitor'), 0);
});

test('an uncaught exception dumps the flight recorder, then the process dies as usual', () => {
  using directory = temporaryDirectory();
  const recorderUrl = new URL('./trace-recorder.ts', import.meta.url).href;
  const script = `
    import { installFlightRecorderDumps, TraceRecorder } from ${JSON.stringify(recorderUrl)};
    const recorder = new TraceRecorder();
    installFlightRecorderDumps(recorder, ${JSON.stringify(directory.path)}, (line) => console.log(line));
    recorder.instant('last words', 'test');
    setImmediate(() => { throw new Error('the crash under test'); });
  `;
  const child = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '--eval', script], { encoding: 'utf8' });
  assert.equal(child.status, 1, child.stderr);
  assert.match(child.stderr, /the crash under test/);
  assert.match(child.stdout, /flight recorder \(uncaughtException\) written to /);
  const [name] = readdirSync(directory.path);
  const dump = JSON.parse(readFileSync(join(directory.path, name ?? ''), 'utf8')) as { traceEvents: TraceEvent[] };
  assert.ok(dump.traceEvents.some((event) => event.name === 'last words'));
  const crash = dump.traceEvents.find((event) => event.name === 'uncaught exception');
  assert.equal(crash?.args?.['message'], 'the crash under test');
});

test('a trace file and a flight recorder dump are 0600 under umask 000, also over a 0644 file', () => {
  using directory = temporaryDirectory();
  const tracePath = join(directory.path, 'trace.json');
  writeFileSync(tracePath, 'old', { mode: 0o644 });
  const umask = process.umask(0);
  try {
    const recorder = new TraceRecorder();
    recorder.recordToFile(tracePath);
    recorder.instant('event', 'test');
    recorder.close();
    const dumpPath = recorder.dumpFlightRecorder(join(directory.path, 'dump.json'));
    assert.equal(statSync(tracePath).mode & 0o777, 0o600);
    assert.equal(statSync(dumpPath).mode & 0o777, 0o600);
  } finally {
    process.umask(umask);
  }
});
