/**
 * SimScheduler: the simulator's only source of progress. Every simulated system call becomes a
 * pending completion; the driver lets JavaScript run until it blocks (one macrotask turn), then
 * completes one eligible pending call chosen by the seeded generator. No real I/O and no timers
 * take part, so a seed replays the same interleaving exactly.
 *
 * Completions marked late are chosen only when nothing else can run, or rarely: that forces
 * completion long after the caller gave up (a cancel, a close) and reorders calls.
 *
 * Real work outside the simulator (a worker thread sealing a blob) is tracked: no completion is
 * chosen while any of it runs, so what the simulated calls see does not depend on how fast the
 * machine is. Untracked real work (a key derivation on libuv's threads) may make a run wait with
 * nothing to complete; it is given `idleWaitMsMax` of real time before the run is a deadlock.
 */
import type { Prng } from '../../base/prng.js';

export interface PendingCompletion {
  readonly label: string;
  readonly late: boolean;
  /** False while the call must wait (an empty blocking pipe, a frozen file system). */
  ready(): boolean;
  complete(): void;
}

export class SimulationDeadlock extends Error {
  override name = 'SimulationDeadlock';
}

export class SimScheduler {
  readonly #prng: Prng;
  readonly #stepsMax: number;
  readonly #idleWaitMsMax: number;
  #pending: PendingCompletion[] = [];
  /** Real work the run waits for before each step (settled-or-not promises of it). */
  readonly #outside = new Set<Promise<void>>();
  #steps = 0;
  #stopped = false;

  constructor(prng: Prng, stepsMax: number, idleWaitMsMax = 0) {
    this.#prng = prng;
    this.#stepsMax = stepsMax;
    this.#idleWaitMsMax = idleWaitMsMax;
  }

  /** Tracks real work outside the simulator: no completion is chosen until it has settled. */
  outside<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#outside.add(settled);
    void settled.then(() => this.#outside.delete(settled));
    return work;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  get steps(): number {
    return this.#steps;
  }

  add(completion: PendingCompletion): void {
    if (this.#stopped) return; // The process has crashed: nothing will ever complete again.
    this.#pending.push(completion);
  }

  /** Drops every pending completion for good: the simulated process has crashed. */
  stop(): void {
    this.#stopped = true;
    this.#pending = [];
  }

  /**
   * Drives completions until `target` settles (true), or until the scheduler is stopped (a
   * crash) or `pause()` says so before a step (false): the pending calls then stay pending, as a
   * crash at that instant finds them.
   */
  async runUntil(target: Promise<unknown>, pause: () => boolean = () => false): Promise<boolean> {
    let settled = false;
    const markSettled = (): void => {
      settled = true;
    };
    target.then(markSettled, markSettled);
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.#outside.size > 0 && !settled) {
        await Promise.all(this.#outside);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (settled) return true;
      if (this.#stopped || pause()) return false;
      const eligible = await this.#eligible(() => settled);
      if (eligible === null) continue; // tracked real work began meanwhile: wait for it first
      if (settled) return true;
      if (this.#stopped) return false;
      if (eligible.length === 0) {
        throw new SimulationDeadlock(`nothing can complete and the simulation has not finished (${this.#pending.length} waiting: ${this.#pending.map((p) => p.label).join(', ')})`);
      }
      if (++this.#steps > this.#stepsMax) throw new SimulationDeadlock(`more than ${this.#stepsMax} steps`);
      const prompt = eligible.filter((completion) => !completion.late);
      const pool = prompt.length > 0 && !this.#prng.chance(0.05) ? prompt : eligible;
      const chosen = this.#prng.pick(pool);
      this.#pending.splice(this.#pending.indexOf(chosen), 1);
      chosen.complete();
    }
  }

  /**
   * The completions that can run. With none, waits up to idleWaitMsMax for untracked real work
   * to add one; null when tracked real work began meanwhile.
   */
  async #eligible(settled: () => boolean): Promise<PendingCompletion[] | null> {
    const deadlineMs = Date.now() + this.#idleWaitMsMax;
    for (;;) {
      const eligible = this.#pending.filter((completion) => completion.ready());
      if (eligible.length > 0 || settled() || this.#stopped || Date.now() >= deadlineMs) return eligible;
      await new Promise<void>((resolve) => setTimeout(resolve, 1));
      if (this.#outside.size > 0) return null;
    }
  }
}
