/**
 * Removing locks by hand (`holdfast unlock`, as restic's): stale locks always (a holder that is
 * gone, or one not refreshed for lockStaleAfterMs — the same test every lock taker applies), and
 * with `all` every lock file, live or unreadable, for when the user knows that nothing else uses
 * the repository. Live locks that stay are returned so the user can see who holds them.
 */
import { isErrorCode } from '../errors/holdfast-error.js';
import { listLocks, type HeldLock } from '../repo/lock.js';
import type { Repository } from '../repo/repository.js';

export interface UnlockSummary {
  removed: HeldLock[];
  /** Live locks left in place (none with `all`). */
  live: HeldLock[];
  /** Lock files that could not be read as locks of this repository (removed only with `all`). */
  unreadableRemoved: number;
  unreadableKept: number;
}

export async function unlockRepository(repository: Repository, options: { all: boolean }): Promise<UnlockSummary> {
  const locks = await listLocks(repository);
  const summary: UnlockSummary = { removed: [], live: [], unreadableRemoved: 0, unreadableKept: 0 };
  for (const lock of locks) {
    if (!lock.stale && !options.all) {
      summary.live.push(lock);
      continue;
    }
    if (await removeIfThere(repository, lock.name)) summary.removed.push(lock);
  }
  const readable = new Set(locks.map((lock) => lock.name));
  for (const file of await repository.backend.list('locks')) {
    if (readable.has(file.name)) continue;
    if (!options.all) summary.unreadableKept++;
    else if (await removeIfThere(repository, file.name)) summary.unreadableRemoved++;
  }
  return summary;
}

/** False when the file was already gone (its holder released it meanwhile). */
async function removeIfThere(repository: Repository, name: string): Promise<boolean> {
  try {
    await repository.backend.remove('locks', name);
    return true;
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return false;
    throw error;
  }
}
