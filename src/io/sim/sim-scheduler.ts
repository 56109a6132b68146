/**
 * SimScheduler: the simulator's only source of progress. Every simulated system call becomes a
 * pending completion; the driver lets JavaScript run until it blocks (one macrotask turn), then
 * completes one eligible pending call chosen by the seeded generator. No real I/O and no timers
 * take part, so a seed replays the same interleaving exactly.
 *
 * Completions marked late are chosen only when nothing else can run, or rarely: that forces
 * completion long after the caller gave up (a cancel, a close) and reorders calls.
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
  #pending: PendingCompletion[] = [];
  #steps = 0;
  #stopped = false;

  constructor(prng: Prng, stepsMax: number) {
    this.#prng = prng;
    this.#stepsMax = stepsMax;
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

  /** Drives completions until `target` settles. */
  async runUntil<T>(target: Promise<T>): Promise<T> {
    let settled = false;
    const markSettled = (): void => {
      settled = true;
    };
    target.then(markSettled, markSettled);
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (settled) return target;
      const eligible = this.#pending.filter((completion) => completion.ready());
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
}
