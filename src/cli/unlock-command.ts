/**
 * holdfast unlock [--remove-all] [repository options]
 *
 * Removes stale locks and names the live ones; --remove-all removes every lock. Takes no lock
 * itself (a repository whose lock is in the way is what it is for).
 */
import { parseArgs } from 'node:util';
import { describeLock, unlockRepository } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';

export const unlockUsage = `Usage: holdfast unlock [--remove-all]

Removes the stale locks (whose holder is gone, or that were not refreshed for 30 minutes) and
lists the live ones with their holder. --remove-all removes every lock, live or not: only when
you know that no other holdfast uses the repository.

${repositoryOptionsUsage}`;

export async function unlockCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, 'remove-all': { type: 'boolean', default: false } },
  });
  if (values.help) {
    process.stdout.write(unlockUsage);
    return exitCodes.ok;
  }
  if (positionals.length > 0) throw new UsageError('unlock takes no arguments');
  const reporter = new Reporter({ verb: 'unlock', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, loadIndex: false, lock: 'none' }, async ({ repository }) => {
    const summary = await unlockRepository(repository, { all: values['remove-all'] });
    if (values.json) {
      for (const lock of summary.removed) process.stdout.write(`${JSON.stringify({ type: 'removed', lock: lock.name, ...lock.record, stale: lock.stale })}\n`);
      for (const lock of summary.live) process.stdout.write(`${JSON.stringify({ type: 'live', lock: lock.name, ...lock.record })}\n`);
    } else {
      for (const lock of summary.removed) process.stdout.write(`removed ${lock.stale ? 'stale ' : ''}${describeLock(lock)}\n`);
      for (const lock of summary.live) process.stdout.write(`live ${describeLock(lock)} (kept; --remove-all removes it)\n`);
    }
    const unreadable = summary.unreadableKept > 0 ? `, ${summary.unreadableKept} unreadable lock file${summary.unreadableKept === 1 ? '' : 's'} kept` : '';
    reporter.summary(
      { removed: summary.removed.length + summary.unreadableRemoved, live: summary.live.length, unreadableKept: summary.unreadableKept },
      `removed ${summary.removed.length + summary.unreadableRemoved} lock${summary.removed.length + summary.unreadableRemoved === 1 ? '' : 's'}, ${summary.live.length} live${unreadable}`,
    );
    return exitCodes.ok;
  });
}
