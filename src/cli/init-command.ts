/**
 * holdfast init [--repo DIR]
 */
import { parseArgs } from 'node:util';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { Reporter } from './reporter.js';
import { defaultRepositorySecret, passwordGiven, prepareDefaultRepository, readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository } from './repository-options.js';

export const initUsage = `Usage: holdfast init [--repo DIR]

Creates an encrypted repository in DIR. Its master key is random and stored wrapped by the
password (argon2id); add more passwords with "holdfast key add". An empty password is refused;
on a terminal it is asked for twice. Of several inits of one place at once exactly one makes the
repository; the others fail (HOLDFAST_REPOSITORY_EXISTS, exit code 1). Without --repo and
HOLDFAST_REPOSITORY it creates the embedded default and generates its key file.

${repositoryOptionsUsage}`;

export async function initCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: repositoryOptionSpec });
  if (values.help) {
    process.stdout.write(initUsage);
    return exitCodes.ok;
  }
  if (positionals.length > 0) throw new UsageError('init takes no arguments; give the repository with --repo DIR');
  const reporter = new Reporter({ verb: 'init', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const madeDefault = prepareDefaultRepository(place, values);
  const password = await readPassword(values, place, `the new repository ${place.location}`, { newKey: true });
  return runInRepository(values, reporter, { place, password, create: true }, ({ repository }) => {
    const text = madeDefault
      ? `created the default repository ${place.location}\n${defaultRepositorySecret(place, values)}`
      : `created repository ${repository.config.id.slice(0, 8)} at ${place.location}`;
    reporter.note('created', { repository: place.location, id: repository.config.id, keyFile: madeDefault && !passwordGiven(values) ? place.defaultKeyFile : null }, text);
    return Promise.resolve(exitCodes.ok);
  });
}
