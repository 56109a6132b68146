/**
 * TraceRecorder: the events of rule W1 in the Chrome trace-event format, which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open as they are.
 *
 * Every event goes into a flight recorder, a ring of the last `flightEventsMax` events, so
 * memory stays bounded however long the process runs. The ring can be dumped at any time, also
 * from inside an uncaughtException handler: dumps are written synchronously.
 *
 * recordToFile() also appends every later event to a file in the JSON array format. Events are
 * buffered up to `fileBufferCharactersMax` characters and at most `fileFlushIntervalMs` before they
 * are appended, so a slow disk never grows the heap. The closing `]` is written by close(); a
 * process that dies first leaves a file without it, which the trace-event format allows and
 * trace viewers accept.
 *
 * Timestamps are microseconds of wall time, `performance.timeOrigin + performance.now()`, the same
 * clock in every thread, so times that a worker thread measures line up with the main thread's.
 * Thread names ('M' metadata events) are kept apart from the ring, so a dump always labels its
 * rows even after the events that named them were overwritten.
 *
 * Trace files and dumps are the owner's only (0600, whatever the umask): they name files, paths
 * and errors of the work they watch.
 */
import { appendFileSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../base/assert.js';
import { fromNodeError } from '../errors/holdfast-error.js';

/** A value of an event's args: JSON without undefined. */
export type TraceValue = string | number | boolean | null | readonly TraceValue[] | { readonly [key: string]: TraceValue };
export type TraceArguments = Readonly<Record<string, TraceValue>>;

/**
 * One event. `ph` is the phase: 'X' complete (ts and dur), 'i' instant, 'M' metadata,
 * 'b'/'e' begin and end of an async span (matched by cat and id; spans may overlap).
 */
export interface TraceEvent {
  readonly name: string;
  readonly cat: string;
  readonly ph: 'X' | 'i' | 'M' | 'b' | 'e';
  readonly ts: number;
  readonly pid: number;
  readonly tid: number;
  readonly dur?: number;
  readonly s?: 't' | 'p' | 'g';
  readonly id?: number;
  readonly args?: TraceArguments;
}

export interface TraceRecorderOptions {
  /** Events the flight recorder keeps (default 25_000: the last few thousand jobs, some 15 MB of heap). */
  flightEventsMax?: number;
}

/** Microseconds of wall time on the clock that every thread shares. */
export function traceClockUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

const flightEventsDefault = 25_000;
const fileBufferCharactersMax = 64 * 1024;
const fileFlushIntervalMs = 1000;
const dumpChunkCharactersMax = 1024 * 1024;
const threadNamesMax = 10_000;
const dumpNameAttemptsMax = 100;

export class TraceRecorder {
  /** The main thread's row. Worker rows come from allocateThreadId(). */
  static readonly mainThreadId = 1;

  readonly flightEventsMax: number;
  readonly #processId = process.pid;
  readonly #ring: TraceEvent[] = [];
  /** Where the next event goes once the ring is full: the oldest event's slot. */
  #ringNext = 0;
  #eventsRecorded = 0;
  readonly #threadNames = new Map<string, TraceEvent>();
  #nextThreadId = TraceRecorder.mainThreadId + 1;
  #file: { path: string; pending: string[]; pendingCharacters: number; eventsWritten: number; timer: NodeJS.Timeout } | null = null;
  #fileError: Error | null = null;
  #closed = false;

  constructor(options: TraceRecorderOptions = {}) {
    const flightEventsMax = options.flightEventsMax ?? flightEventsDefault;
    assert(Number.isSafeInteger(flightEventsMax) && flightEventsMax > 0, 'flightEventsMax must be a positive integer');
    this.flightEventsMax = flightEventsMax;
    this.#metadata('process_name', 0, { name: 'holdfast' });
    this.threadName(TraceRecorder.mainThreadId, 'main');
  }

  /** Events recorded since the recorder was made, including those the ring has dropped. */
  get eventsRecorded(): number {
    return this.#eventsRecorded;
  }

  /** A new row, named for trace viewers. */
  allocateThreadId(name: string): number {
    const threadId = this.#nextThreadId++;
    this.threadName(threadId, name);
    return threadId;
  }

  /** Names a row ('M' thread_name event); naming it again replaces the name. */
  threadName(threadId: number, name: string): void {
    this.#metadata('thread_name', threadId, { name });
    this.#metadata('thread_sort_index', threadId, { sort_index: threadId });
  }

  /** Something that happened at one moment, on the main row unless a row is given. */
  instant(name: string, category: string, args?: TraceArguments, threadId: number = TraceRecorder.mainThreadId): void {
    const event: TraceEvent = { name, cat: category, ph: 'i', s: 't', ts: traceClockUs(), pid: this.#processId, tid: threadId };
    this.#record(args === undefined ? event : { ...event, args });
  }

  /** Something that ran from startUs for durationUs on one row: one 'X' event. */
  complete(name: string, category: string, startUs: number, durationUs: number, threadId: number, args?: TraceArguments): void {
    const event: TraceEvent = { name, cat: category, ph: 'X', ts: startUs, dur: Math.max(0, durationUs), pid: this.#processId, tid: threadId };
    this.#record(args === undefined ? event : { ...event, args });
  }

  /**
   * A span that may overlap others on its row (a job waiting in a queue): a 'b' and an 'e' event
   * with the same id, which viewers draw on a track of their own.
   */
  span(name: string, category: string, id: number, startUs: number, durationUs: number, args?: TraceArguments): void {
    const begin: TraceEvent = { name, cat: category, ph: 'b', id, ts: startUs, pid: this.#processId, tid: TraceRecorder.mainThreadId };
    this.#record(args === undefined ? begin : { ...begin, args });
    this.#record({ name, cat: category, ph: 'e', id, ts: startUs + Math.max(0, durationUs), pid: this.#processId, tid: TraceRecorder.mainThreadId });
  }

  /** The ring's events, oldest first; the thread names are apart, in metadataEvents(). */
  flightEvents(): TraceEvent[] {
    if (this.#ring.length < this.flightEventsMax) return this.#ring.slice();
    return [...this.#ring.slice(this.#ringNext), ...this.#ring.slice(0, this.#ringNext)];
  }

  /** The process and thread names ('M' events), one per row and kind. */
  metadataEvents(): TraceEvent[] {
    return [...this.#threadNames.values()];
  }

  /**
   * From now on, also appends every event to `path` (created or truncated) as a JSON array that
   * trace viewers open. The thread names known so far are written first. One file per recorder.
   */
  recordToFile(path: string): void {
    assert(this.#file === null && !this.#closed, 'recordToFile() called twice or after close()');
    try {
      writePrivateFileSync(path, '[\n');
    } catch (error) {
      throw fromNodeError(error, 'open', { operation: 'write a trace to', path });
    }
    const timer = setInterval(() => this.flush(), fileFlushIntervalMs);
    timer.unref();
    this.#file = { path, pending: [], pendingCharacters: 0, eventsWritten: 0, timer };
    for (const event of this.#threadNames.values()) this.#append(event);
    this.flush();
  }

  /** Appends the buffered events to the file now. Never throws: a failure is kept for close(). */
  flush(): void {
    const file = this.#file;
    if (file === null || file.pending.length === 0) return;
    const text = file.pending.join('');
    file.pending = [];
    file.pendingCharacters = 0;
    try {
      appendFileSync(file.path, text);
    } catch (error) {
      // Tracing must not break the work it watches: stop writing, report at close().
      this.#fileError = fromNodeError(error, 'write', { operation: 'write a trace to', path: file.path });
      this.#stopFile();
    }
  }

  /**
   * Ends the file with `]` so it is complete JSON. Idempotent; the flight recorder keeps working.
   * Throws the error that stopped the file, if one did.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const file = this.#file;
    if (file !== null) {
      file.pending.push('\n]\n');
      this.flush();
      this.#stopFile();
    }
    if (this.#fileError !== null) throw this.#fileError;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Writes the thread names and the ring to `path` as `{"traceEvents":[...]}`, synchronously, in
   * chunks of bounded size, through a temporary file renamed into place, so a reader never sees
   * half a dump. Safe inside an uncaughtException handler. Returns the path.
   */
  dumpFlightRecorder(path: string): string {
    const partialPath = `${path}.partial`;
    const context = { operation: 'dump the flight recorder to', path };
    try {
      writePrivateFileSync(partialPath, '{"traceEvents":[\n');
      let chunk: string[] = [];
      let chunkCharacters = 0;
      let first = true;
      for (const event of [...this.metadataEvents(), ...this.flightEvents()]) {
        const text = (first ? '' : ',\n') + JSON.stringify(event);
        first = false;
        chunk.push(text);
        chunkCharacters += text.length;
        if (chunkCharacters >= dumpChunkCharactersMax) {
          appendFileSync(partialPath, chunk.join(''));
          chunk = [];
          chunkCharacters = 0;
        }
      }
      chunk.push('\n],"displayTimeUnit":"ms"}\n');
      appendFileSync(partialPath, chunk.join(''));
      renameSync(partialPath, path);
    } catch (error) {
      throw fromNodeError(error, 'write', context);
    }
    return path;
  }

  #metadata(name: string, threadId: number, args: TraceArguments): void {
    // Keyed per kind and row, so renaming a row replaces its event instead of adding one.
    const key = `${name} ${threadId}`;
    assert(this.#threadNames.size < threadNamesMax || this.#threadNames.has(key), 'more trace rows than threadNamesMax');
    const event: TraceEvent = { name, cat: '__metadata', ph: 'M', ts: 0, pid: this.#processId, tid: threadId, args };
    this.#threadNames.set(key, event);
    if (this.#file !== null) this.#append(event);
  }

  #record(event: TraceEvent): void {
    this.#eventsRecorded++;
    if (this.#ring.length < this.flightEventsMax) {
      this.#ring.push(event);
    } else {
      this.#ring[this.#ringNext] = event;
      this.#ringNext = (this.#ringNext + 1) % this.flightEventsMax;
    }
    if (this.#file !== null) this.#append(event);
  }

  #append(event: TraceEvent): void {
    const file = this.#file;
    if (file === null) return;
    const text = (file.eventsWritten === 0 ? '' : ',\n') + JSON.stringify(event);
    file.eventsWritten++;
    file.pending.push(text);
    file.pendingCharacters += text.length;
    if (file.pendingCharacters >= fileBufferCharactersMax) this.flush();
  }

  #stopFile(): void {
    if (this.#file === null) return;
    clearInterval(this.#file.timer);
    this.#file = null;
  }
}

/**
 * Dumps `recorder`'s flight recorder into `directory` (created when needed) as
 * `holdfast-flight-<pid>-<timestamp>.json`:
 * - on SIGUSR2, and the process goes on running (a listener replaces the default of dying);
 * - on an uncaught exception ('uncaughtExceptionMonitor'), after which Node's default crash goes on.
 * `log` gets one line naming the file, or saying why none was written. Returns a function that
 * removes both listeners.
 */
export function installFlightRecorderDumps(recorder: TraceRecorder, directory: string, log: (line: string) => void): () => void {
  const dump = (reason: string): void => {
    try {
      mkdirSync(directory, { recursive: true, mode: 0o700 });
      const path = recorder.dumpFlightRecorder(flightDumpPath(directory));
      log(`holdfast: flight recorder (${reason}) written to ${path}`);
    } catch (error) {
      log(`holdfast: cannot dump the flight recorder (${reason}) into "${directory}": ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const onSignal = (): void => {
    recorder.instant('SIGUSR2', 'process');
    dump('SIGUSR2');
  };
  const onUncaught = (error: unknown, origin: string): void => {
    const args = error instanceof Error ? { name: error.name, message: error.message, origin } : { message: String(error), origin };
    recorder.instant('uncaught exception', 'process', args);
    recorder.flush();
    dump(origin);
  };
  process.on('SIGUSR2', onSignal);
  process.on('uncaughtExceptionMonitor', onUncaught);
  return () => {
    process.off('SIGUSR2', onSignal);
    process.off('uncaughtExceptionMonitor', onUncaught);
  };
}

/** Creates or truncates `path` with `text`, mode 0600 whatever the umask or the mode the file had. */
function writePrivateFileSync(path: string, text: string): void {
  const descriptor = openSync(path, 'w', 0o600);
  try {
    fchmodSync(descriptor, 0o600);
    writeSync(descriptor, text);
  } finally {
    closeSync(descriptor);
  }
}

function flightDumpPath(directory: string): string {
  const timestamp = new Date().toISOString().replace(/[-:.]/g, '');
  const base = `holdfast-flight-${process.pid}-${timestamp}`;
  for (let attempt = 1; attempt <= dumpNameAttemptsMax; attempt++) {
    const path = join(directory, attempt === 1 ? `${base}.json` : `${base}-${attempt}.json`);
    if (!existsSync(path)) return path;
  }
  return join(directory, `${base}-${dumpNameAttemptsMax + 1}.json`);
}
