/**
 * The URL of a module beside the caller's own, with the caller's extension: `.ts` when the caller
 * runs from source under tsx, `.js` when it runs from the tsc output in dist/. A WorkerPool's
 * worker module is found this way:
 *
 *   const workerUrl = siblingModuleUrl(import.meta.url, 'chunk-worker');
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

export function siblingModuleUrl(importMetaUrl: string, baseName: string): URL {
  return new URL(`./${baseName}${extname(fileURLToPath(importMetaUrl))}`, importMetaUrl);
}
