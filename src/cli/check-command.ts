/**
 * holdfast check [--read-data | --read-data-subset N%] [repository options]
 */
import { parseArgs } from 'node:util';
import { checkRepository } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { formatDuration, Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';

export const checkUsage = `Usage: holdfast check [--read-data | --read-data-subset N%]

Checks that the repository is whole: key files, index files, packs and their sizes, every
pack's header (read from its end, authenticated and compared with the index), every snapshot
and tree, and that every chunk a file needs is indexed. --read-data also reads every pack (or a
random N% of them) and authenticates and hashes every blob: damage inside a blob shows only
then. Damage is traced to the snapshots and files it affects. Exit code 1 when anything is wrong.

${repositoryOptionsUsage}`;

export async function checkCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, 'read-data': { type: 'boolean', default: false }, 'read-data-subset': { type: 'string' } },
  });
  if (values.help) {
    process.stdout.write(checkUsage);
    return exitCodes.ok;
  }
  if (positionals.length > 0) throw new UsageError('check takes no arguments');
  let percent = 100;
  if (values['read-data-subset'] !== undefined) {
    const match = /^(\d+(?:\.\d+)?)%?$/.exec(values['read-data-subset']);
    percent = match === null ? Number.NaN : Number(match[1]);
    if (!(percent > 0 && percent <= 100)) throw new UsageError(`--read-data-subset takes a share like 10%, not "${values['read-data-subset']}"`);
  }
  const readData = values['read-data'] || values['read-data-subset'] !== undefined;
  const reporter = new Reporter({ verb: 'check', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, loadIndex: false, readOnly: true }, async ({ repository }) => {
    const summary = await checkRepository(repository, {
      readData,
      readDataPercent: percent,
      onProblem: (problem) => reporter.problem('refused', problem.subject, problem.message),
      onProgress: (stage, done, total) => reporter.status({ stage, done, total }, () => `${stage}: ${done} of ${total}`),
    });
    const damaged = summary.damagedSnapshots.map((id) => id.slice(0, 8));
    const took = formatDuration(reporter.elapsedMs / 1000);
    const text =
      summary.problems === 0
        ? `no problems found in ${took}: ${summary.indexFiles} index files, ${summary.packs} packs${readData ? ` (${summary.packsRead} read, ${summary.blobsRead} blobs verified)` : ''}, ${summary.snapshots} snapshots${summary.unreferencedPacks > 0 ? `; ${summary.unreferencedPacks} packs in no index (left by an interrupted backup)` : ''}`
        : `${summary.problems} problems found in ${took}${damaged.length > 0 ? `; damaged snapshots: ${damaged.join(', ')}; damaged files: ${summary.damagedFiles.length}` : ''}`;
    reporter.summary({ ...summary }, text);
    return summary.problems === 0 ? exitCodes.ok : exitCodes.fatal;
  });
}
