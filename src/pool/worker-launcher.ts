/**
 * Starts the worker threads of a WorkerPool on a module given by URL: a `.js` module (the tsc
 * output in dist/) as it is, a `.ts` module (tests and tools running from source) through tsx.
 *
 * Why not rely on `--import tsx` being inherited: a worker does inherit the parent's execArgv and
 * runs the --import, but on Node 20 tsx registers its loader hooks on the main thread only, so the
 * worker still fails with ERR_UNKNOWN_FILE_EXTENSION on a .ts module (checked with Node 20.20.2
 * and tsx 4.23). So the worker runs a small bootstrap that registers tsx itself, from where the
 * main thread resolved it, and then imports the module. The bootstrap is eval'd, so the pool needs
 * no file beside its own .ts or .js.
 */
import { Worker } from 'node:worker_threads';
import { holdfastError } from '../errors/holdfast-error.js';

const bootstrapSource = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.typescriptLoaderUrl !== null) (await import(workerData.typescriptLoaderUrl)).register();
  await import(workerData.moduleUrl);
})();
`;

/**
 * A function that starts one worker thread on `workerUrl`. Fails at once, before any thread is
 * started, when the module is TypeScript and tsx cannot be found.
 */
export function workerLauncher(workerUrl: URL, poolName: string): () => Worker {
  const workerData = { moduleUrl: workerUrl.href, typescriptLoaderUrl: typescriptLoaderFor(workerUrl, poolName) };
  return () => new Worker(bootstrapSource, { eval: true, workerData });
}

/** tsx's registration entry when the worker module is TypeScript, else null. */
function typescriptLoaderFor(workerUrl: URL, poolName: string): string | null {
  if (!/\.[cm]?ts$/.test(workerUrl.pathname)) return null;
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch (error) {
    throw holdfastError('HOLDFAST_USAGE', { operation: 'start the workers of', path: poolName, cause: error }, `${workerUrl.href} is TypeScript, and tsx cannot be found to load it`);
  }
}
