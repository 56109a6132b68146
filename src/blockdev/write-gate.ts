/**
 * WriteGate: the hold of a flush-and-hold snapshot (rule S1). Every request that changes the
 * volume passes through enter()/leave(). hold() closes the gate (requests that arrive now are
 * queued, never failed) and resolves when the writes already in flight have completed; release()
 * opens it again and lets the queued requests go on, in arrival order. The holder must call
 * release() whatever happens: takeSnapshot() does so in a finally.
 */
import { assert } from '../base/assert.js';

export class WriteGate {
  #held = false;
  #inFlight = 0;
  #queued: (() => void)[] = [];
  #drained: (() => void) | null = null;

  get held(): boolean {
    return this.#held;
  }

  /** Writes waiting for the hold to end. */
  get queuedCount(): number {
    return this.#queued.length;
  }

  /** Waits while the gate is held, then counts the caller in flight until leave(). */
  async enter(): Promise<void> {
    if (this.#held) {
      // release() counts it in flight when it lets it go, so a hold right after sees it.
      await new Promise<void>((resolve) => this.#queued.push(resolve));
      return;
    }
    this.#inFlight++;
  }

  leave(): void {
    assert(this.#inFlight > 0, 'WriteGate.leave() without enter()');
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#drained !== null) {
      const drained = this.#drained;
      this.#drained = null;
      drained();
    }
  }

  /** Closes the gate; resolves when no write is in flight. */
  async hold(): Promise<void> {
    assert(!this.#held, 'WriteGate held twice');
    this.#held = true;
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
  }

  /** Opens the gate: queued writes go on. Safe to call when not held. */
  release(): void {
    this.#held = false;
    this.#drained = null;
    const queued = this.#queued;
    this.#queued = [];
    this.#inFlight += queued.length;
    for (const resume of queued) {
      resume();
    }
  }
}
