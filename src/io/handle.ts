/**
 * Handle: a reference-counted open file descriptor (rules H1-H4).
 *
 * - Every operation takes a reference with acquire() before it touches the descriptor and
 *   returns it when it has really completed. close() refuses new references at once
 *   (HOLDFAST_HANDLE_CLOSED), waits until the count is zero, then releases the descriptor exactly
 *   once. No operation can reach the fd number after it was released and reused by another open.
 * - A handle owns its descriptor (closes it) or borrows it (stdin, an inherited fd): a borrowed
 *   one is only detached.
 * - The kind is a type parameter: Handle<'directory'> is not a Handle<'file'>.
 * - A handle garbage-collected unclosed runs its final flush (buffered data reaches the file),
 *   releases the descriptor and warns with the stack of where it was opened. Code never relies
 *   on this; it is there so that a bug loses no data.
 */
import { assert } from '../base/assert.js';
import { holdfastError } from '../errors/holdfast-error.js';
import type { Descriptor } from './descriptor.js';
import type { FileStat } from './file-stat.js';
import type { HandleKind, HandleModes } from './handle-kind.js';

export type Ownership = 'owned' | 'borrowed';

/** Bytes a writer still holds when its handle is collected, and where they go. */
export interface PendingWrite {
  bytes: Uint8Array;
  position: number | null;
}

/** What a backend must do for a handle: release it normally, or from a finalizer (sync). */
export interface HandleReleaser {
  release(descriptor: Descriptor, ownership: Ownership): Promise<void>;
  finalizeSync(descriptor: Descriptor, ownership: Ownership, pending: PendingWrite[]): void;
}

/** A reference held by one running operation. release() must be called exactly once. */
export interface HandleReference {
  readonly descriptor: Descriptor;
  release(): void;
}

/** Everything the finalizer needs. It must not reference the Handle, or it would never run. */
interface FinalState {
  descriptor: Descriptor;
  ownership: Ownership;
  path: string;
  /** Formatted at open: an unformatted Error keeps its frames' receivers (this handle) alive. */
  openSite: string;
  releaser: HandleReleaser;
  finalFlush: (() => PendingWrite[]) | null;
}

const leakedHandles = new FinalizationRegistry<FinalState>((state) => {
  let flushError: unknown = null;
  try {
    const pending = state.finalFlush === null ? [] : state.finalFlush();
    state.releaser.finalizeSync(state.descriptor, state.ownership, pending);
  } catch (error) {
    flushError = error;
  }
  const outcome = flushError === null ? 'flushed and closed' : `closed; flush failed: ${String(flushError)}`;
  process.emitWarning(
    `holdfast: a handle for "${state.path}" was garbage-collected without close(); ${outcome}. ` +
      `It was opened at:\n${state.openSite.split('\n').slice(1).join('\n')}`,
    { code: 'HOLDFAST_HANDLE_LEAKED', type: 'HoldfastWarning' },
  );
});

type HandleState = 'open' | 'closing' | 'closed';

/**
 * Internal to io/: takes a reference for one operation on the handle. Throws
 * HOLDFAST_HANDLE_CLOSED at once when close() has been called, so the refusal happens before
 * anything is queued. Not a method, and not exported by api/, because the reference carries the
 * fd number (rule H1).
 */
export let acquireHandle: (handle: Handle, operation: string) => HandleReference;

export class Handle<K extends HandleKind = HandleKind> {
  readonly kind: K;
  readonly path: string;
  readonly ownership: Ownership;
  readonly modes: Readonly<HandleModes>;
  /**
   * What fstat() said when the handle was opened (null where the backend did not take it): what
   * the descriptor refers to (device, inode, size then). io.stat() asks again, for the present.
   */
  readonly openedStat: FileStat | null;
  #final: FinalState;
  #state: HandleState = 'open';
  #references = 0;
  #drained: (() => void) | null = null;
  #closed: Promise<void> | null = null;

  /** Internal to io/: backends create handles through IoCore. */
  constructor(init: {
    kind: K;
    path: string;
    ownership: Ownership;
    modes: HandleModes;
    descriptor: Descriptor;
    releaser: HandleReleaser;
    stat?: FileStat | undefined;
  }) {
    this.kind = init.kind;
    this.path = init.path;
    this.ownership = init.ownership;
    this.modes = Object.freeze({ ...init.modes });
    this.openedStat = init.stat ?? null;
    this.#final = {
      descriptor: init.descriptor,
      ownership: init.ownership,
      path: init.path,
      openSite: new Error('opened here').stack ?? '',
      releaser: init.releaser,
      finalFlush: null,
    };
    leakedHandles.register(this, this.#final, this);
  }

  get isClosed(): boolean {
    return this.#state !== 'open';
  }

  /** How many operations hold this handle right now. */
  get referenceCount(): number {
    return this.#references;
  }

  static {
    acquireHandle = (handle, operation) => handle.#acquire(operation);
  }

  #acquire(operation: string): HandleReference {
    if (this.#state !== 'open') {
      throw holdfastError('HOLDFAST_HANDLE_CLOSED', { operation, path: this.path }, 'the handle is closed');
    }
    this.#references++;
    let released = false;
    return {
      descriptor: this.#final.descriptor,
      release: () => {
        assert(!released, 'a handle reference was released twice');
        released = true;
        this.#references--;
        assert(this.#references >= 0, 'handle reference count went below zero');
        if (this.#references === 0 && this.#drained !== null) this.#drained();
      },
    };
  }

  /**
   * Internal to io/: the function a buffered writer registers so that its bytes reach the file
   * if the handle is collected unclosed. It must not capture the writer or the handle.
   */
  setFinalFlush(flush: (() => PendingWrite[]) | null): void {
    this.#final.finalFlush = flush;
  }

  /**
   * Refuses new operations at once, waits for those in flight, then releases the descriptor
   * once. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closed === null) {
      this.#state = 'closing';
      this.#closed = this.#closeWhenDrained();
    }
    return this.#closed;
  }

  async #closeWhenDrained(): Promise<void> {
    if (this.#references > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      this.#drained = null;
    }
    leakedHandles.unregister(this);
    try {
      await this.#final.releaser.release(this.#final.descriptor, this.ownership);
    } finally {
      this.#state = 'closed';
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Throws HOLDFAST_HANDLE_KIND unless the handle is of the wanted kind; narrows its type. */
export function expectKind<K extends HandleKind>(
  handle: Handle,
  kind: K,
  operation: string,
): asserts handle is Handle<K> {
  if (handle.kind !== kind) {
    throw holdfastError(
      'HOLDFAST_HANDLE_KIND',
      { operation, path: handle.path },
      `a ${kind} handle is wanted, this is a ${handle.kind}`,
    );
  }
}
