/**
 * How the CLI stops early: SIGINT (Ctrl-C) and a closed stdout (`holdfast ls ... | head`).
 *
 * Inside an orderly scope (a repository session, which has worker threads and a lock), either
 * one aborts `signal`: the verb stops at its next safe point, its workers finish the jobs they
 * run (ending a worker under native code aborts Node), its lock is released, and the process
 * exits with `exitCode`: 130 for SIGINT, 141 for a closed stdout (128 + SIGPIPE, what a shell
 * reports for `cmd | head`), whatever the verb returned. A second SIGINT exits at once. Outside
 * a scope there is nothing to wind down, and the process exits at once with that code.
 *
 * A closed stdout is quiet: no stack trace, nothing more on stderr (the reader went away on
 * purpose). Another error writing to stdout (ENOSPC) stops the verb the same way, with exit
 * code 1 and the reason on stderr. An error writing to stderr is ignored: there is nowhere left
 * to tell it.
 */
import { holdfastError } from '../errors/holdfast-error.js';
import { exitCodes } from './exit-codes.js';

export class Interruption {
  readonly #controller = new AbortController();
  #exitCode: number | null = null;
  #orderlyScopes = 0;

  /** Aborted at the first SIGINT or at a closed stdout; its reason is a HOLDFAST_INTERRUPTED error. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** 130 after SIGINT, 141 after a closed stdout, 1 after another stdout error, null while not interrupted. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** Whether `error` is this interruption's reason (the verb stopped because it was asked to). */
  isInterruption(error: unknown): boolean {
    return this.signal.aborted && (error === this.signal.reason || (error as { code?: unknown } | null)?.code === 'HOLDFAST_INTERRUPTED');
  }

  /** Runs `body` with interruptions turned into an abort of `signal` instead of an exit at once. */
  async orderly<T>(body: () => Promise<T>): Promise<T> {
    this.#orderlyScopes++;
    try {
      return await body();
    } finally {
      this.#orderlyScopes--;
    }
  }

  /** Listens for SIGINT and for errors on stdout and stderr. Call once, at start. */
  install(): void {
    process.on('SIGINT', () => this.#interrupt(exitCodes.interrupted, 'interrupted by SIGINT'));
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      // EPIPE: the reader is gone. Anything else (ENOSPC into a file) is a failure to say so.
      if (error.code === 'EPIPE') this.#interrupt(exitCodes.brokenPipe, 'stdout was closed');
      else this.#interrupt(exitCodes.fatal, `cannot write to stdout (${error.code ?? error.message})`);
    });
    process.stderr.on('error', () => undefined);
  }

  #interrupt(exitCode: number, reason: string): void {
    if (this.#exitCode !== null) {
      // Asked again (a second Ctrl-C): stop now. A closed stdout never forces an exit.
      if (exitCode === exitCodes.interrupted) process.exit(exitCode);
      return;
    }
    this.#exitCode = exitCode;
    if (this.#orderlyScopes === 0) process.exit(exitCode);
    this.#controller.abort(holdfastError('HOLDFAST_INTERRUPTED', { operation: 'finish', path: `holdfast ${process.argv[2] ?? ''}`.trim() }, reason));
  }
}

/** The process's one interruption (SIGINT and stdout belong to the process). */
export const interruption = new Interruption();
