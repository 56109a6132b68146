/**
 * Simulation: one seeded run of IoCore on the simulated backend (rule W2). Everything random in
 * the run (interleaving, latency, faults, what a crash keeps) comes from the seed, so a failure
 * prints its seed and `HOLDFAST_SIM_SEED=<seed>` replays it exactly.
 */
import { assert } from '../../base/assert.js';
import { Prng } from '../../base/prng.js';
import { IoCore } from '../io-core.js';
import type { Io } from '../io.js';
import { SimBackend, noFaults, type FaultRates } from './sim-backend.js';
import { SimFileSystem } from './sim-file-system.js';
import { SimScheduler } from './sim-scheduler.js';

export interface SimulationOptions {
  faults?: Partial<FaultRates>;
  operationsInFlightMax?: number;
  stepsMax?: number;
  /**
   * Real time a run may wait with nothing to complete, for real work the simulator does not
   * track (a key derivation); 0, the default, calls that a deadlock at once.
   */
  idleWaitMsMax?: number;
}

export class Simulation {
  readonly seed: number;
  readonly prng: Prng;
  #scheduler: SimScheduler;
  #backend: SimBackend;
  #io: Io;
  readonly #options: SimulationOptions;
  /** Violations seen by every backend of this run, including those before a crash. */
  readonly #violations: string[] = [];
  #plannedCrash: { atStep: number; resolve: () => void } | null = null;

  constructor(seed: number, options: SimulationOptions = {}) {
    this.seed = seed;
    this.#options = { ...options };
    this.prng = new Prng(seed);
    this.#scheduler = this.#newScheduler();
    this.#backend = this.#newBackend(new SimFileSystem());
    this.#io = new IoCore(this.#backend, this.#ioOptions());
  }

  get io(): Io {
    return this.#io;
  }

  get backend(): SimBackend {
    return this.#backend;
  }

  get violations(): readonly string[] {
    return [...this.#violations, ...this.#backend.violations];
  }

  /**
   * Drives the simulated machine until `work` settles. After a crash (crash() called by `work`, or
   * one planned with crashAfter()) it drives the new process: `work` may go on on the crashed disk.
   */
  async run<T>(work: Promise<T>): Promise<T> {
    for (;;) {
      const scheduler = this.#scheduler;
      const crashDue = (): boolean => this.#plannedCrash !== null && scheduler.steps >= this.#plannedCrash.atStep;
      if (await scheduler.runUntil(work, crashDue)) return work;
      if (scheduler === this.#scheduler && crashDue()) {
        const planned = this.#plannedCrash!;
        this.#plannedCrash = null;
        this.crash();
        planned.resolve();
      }
    }
  }

  /**
   * Plans a crash after `steps` more completed calls, at whatever point the work has reached:
   * the promise resolves once the machine has crashed (run() then drives the new process).
   */
  crashAfter(steps: number): Promise<void> {
    assert(this.#plannedCrash === null, 'a crash is planned already');
    return new Promise((resolve) => {
      this.#plannedCrash = { atStep: this.#scheduler.steps + steps, resolve };
    });
  }

  /** Drops the planned crash; true when it had not happened yet (its promise never resolves then). */
  cancelCrash(): boolean {
    const planned = this.#plannedCrash !== null;
    this.#plannedCrash = null;
    return planned;
  }

  /**
   * Real work outside the simulator that the simulated process waits for (a worker thread's
   * job): no simulated call completes while it runs, so a seed replays the same interleaving
   * however fast the machine is. Returns `work`.
   */
  outside<T>(work: Promise<T>): Promise<T> {
    return this.#scheduler.outside(work);
  }

  /** Fault rates from the next call on, also after a crash (a test sets up its world without faults first). */
  setFaults(faults: Partial<FaultRates>): void {
    this.#options.faults = faults;
    this.#backend.faults = { ...noFaults, ...faults };
  }

  /**
   * Power loss now: every pending call is dropped, unsynced data is lost or torn as the seed
   * says, and a fresh process (new Io, empty fd table) starts on what the disk kept. Handles and
   * operations of the old process must not be used again.
   */
  crash(): void {
    this.#violations.push(...this.#backend.violations);
    this.#scheduler.stop();
    const fileSystem = this.#backend.fileSystem.crashed(this.prng);
    this.#scheduler = this.#newScheduler();
    this.#backend = this.#newBackend(fileSystem);
    this.#io = new IoCore(this.#backend, this.#ioOptions());
  }

  #newScheduler(): SimScheduler {
    return new SimScheduler(this.prng, this.#options.stepsMax ?? 1_000_000, this.#options.idleWaitMsMax ?? 0);
  }

  #newBackend(fileSystem: SimFileSystem): SimBackend {
    return new SimBackend(fileSystem, this.#scheduler, this.prng, { ...noFaults, ...this.#options.faults });
  }

  #ioOptions(): { operationsInFlightMax?: number } {
    return this.#options.operationsInFlightMax === undefined ? {} : { operationsInFlightMax: this.#options.operationsInFlightMax };
  }
}

/** Seeds to run: HOLDFAST_SIM_SEED=n runs only n; otherwise HOLDFAST_SIM_SEEDS (or `count`) seeds from a base. */
export function simulationSeeds(count: number): number[] {
  const only = process.env['HOLDFAST_SIM_SEED'];
  if (only !== undefined && only !== '') return [Number(only)];
  const total = Number(process.env['HOLDFAST_SIM_SEEDS'] ?? count);
  const base = Number(process.env['HOLDFAST_SIM_SEED_BASE'] ?? 1);
  return Array.from({ length: total }, (_, index) => base + index);
}

/**
 * Runs `scenario` for every seed; the first failure is rethrown with its seed and the command
 * that replays it.
 */
export async function forEachSeed(
  count: number,
  options: SimulationOptions,
  scenario: (simulation: Simulation) => Promise<void>,
): Promise<number> {
  const seeds = simulationSeeds(count);
  for (const seed of seeds) {
    const simulation = new Simulation(seed, options);
    try {
      await simulation.run(scenario(simulation));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const failure = new Error(`simulation failed with seed ${seed}: ${message}\n  replay: HOLDFAST_SIM_SEED=${seed} npm test -- ${process.argv[1] ?? ''}`, { cause: error });
      console.error(failure.message);
      throw failure;
    }
  }
  return seeds.length;
}
