/**
 * holdfast cat config | snapshot ID | index ID | key ID | lock ID [repository options]
 *
 * Prints one repository file as indented JSON on stdout (engine/cat.ts decodes it).
 */
import { parseArgs } from 'node:util';
import { catKinds, catRepositoryObject, type CatKind } from '../api/internal.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { Reporter } from './reporter.js';
import { readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';

export const catUsage = `Usage: holdfast cat config
       holdfast cat snapshot ID|latest
       holdfast cat index ID
       holdfast cat key ID
       holdfast cat lock ID

Prints one repository file as JSON, opened and decoded, for debugging: the config, a snapshot,
an index file (its packs and blobs), a key file's public part (owner, KDF parameters; never the
master key) or a lock. IDs may be shortened to a unique prefix of at least 4 characters
("holdfast key list" and "holdfast snapshots" show them).

${repositoryOptionsUsage}`;

export async function catCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: repositoryOptionSpec });
  if (values.help) {
    process.stdout.write(catUsage);
    return exitCodes.ok;
  }
  const [kind, name, ...rest] = positionals;
  if (kind === undefined || !(catKinds as readonly string[]).includes(kind)) throw new UsageError(`give what to print: ${catKinds.join(', ')}`);
  if (kind === 'config' ? name !== undefined : name === undefined || rest.length > 0) throw new UsageError(kind === 'config' ? 'cat config takes no id' : `give one ${kind} id`);
  const reporter = new Reporter({ verb: 'cat', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  return runInRepository(values, reporter, { place, password, loadIndex: false }, async ({ repository }) => {
    const value = await catRepositoryObject(repository, kind as CatKind, name ?? null);
    process.stdout.write(`${JSON.stringify(value, null, values.json ? undefined : 2)}\n`);
    return exitCodes.ok;
  });
}
