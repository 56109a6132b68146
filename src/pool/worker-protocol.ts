/**
 * The messages between a WorkerPool and the worker-runtime of each of its threads, and how a job's
 * error crosses the thread boundary.
 *
 * Messages are structured-cloned, which keeps an Error's message and name but drops its own
 * properties (`code`, `operation`, `path`). So an error travels as a plain SerializedError and the
 * pool rebuilds it as a JobError: a HoldfastError with the worker's message, name and code.
 */
import { HoldfastError } from '../errors/holdfast-error.js';

/** A job's parameters: small scalars that are recorded in the trace as they are. */
export type JobParams = Readonly<Record<string, string | number | boolean>>;

/** Pool to worker: run one job. The payload's transferred ArrayBuffers ride in the transfer list. */
export interface JobRequest {
  readonly type: 'job';
  readonly jobId: number;
  readonly kind: string;
  readonly params: JobParams;
  readonly payload: unknown;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly operation?: string;
  readonly path?: string;
}

/** Worker to pool. Times are the worker's own traceClockUs() readings around the handler. */
export type WorkerReply =
  | { readonly type: 'ready' }
  | {
      readonly type: 'result';
      readonly jobId: number;
      readonly result: unknown;
      /** Bytes of the ArrayBuffers moved back with the result. */
      readonly resultBytes: number;
      readonly startedUs: number;
      readonly finishedUs: number;
    }
  | {
      readonly type: 'error';
      readonly jobId: number;
      readonly error: SerializedError;
      readonly startedUs: number;
      readonly finishedUs: number;
    };

/** The parts of any thrown value that survive a structured clone. No stack: it costs too much. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const serialized: { -readonly [K in keyof SerializedError]: SerializedError[K] } = { name: error.name, message: error.message };
  const fields = error as Error & { code?: unknown; operation?: unknown; path?: unknown };
  if (typeof fields.code === 'string') serialized.code = fields.code;
  if (typeof fields.operation === 'string') serialized.operation = fields.operation;
  if (typeof fields.path === 'string') serialized.path = fields.path;
  return serialized;
}

/**
 * A job's handler threw in its worker. The message and name are the worker's; `code` is the
 * worker's code, or HOLDFAST_WORKER_FAILED when the thrown value had none (a bug in the
 * handler rather than an operating condition). `operation` and `path` are the worker's when its
 * error had them, else `run job <kind>` and the pool's name.
 */
export class JobError extends HoldfastError {
  readonly jobKind: string;

  constructor(serialized: SerializedError, jobKind: string, poolName: string) {
    super(serialized.code ?? 'HOLDFAST_WORKER_FAILED', { operation: serialized.operation ?? `run job ${jobKind}`, path: serialized.path ?? poolName }, serialized.message);
    this.message = serialized.message;
    this.name = serialized.name;
    this.jobKind = jobKind;
    // The stack's first line was written with HoldfastError's message; say what the worker said.
    const stack = this.stack ?? '';
    const lineEnd = stack.indexOf('\n    at ');
    this.stack = `${this.name}: ${this.message}${lineEnd >= 0 ? stack.slice(lineEnd) : ''}`;
  }
}
