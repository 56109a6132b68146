/**
 * holdfast key list | add | remove ID | passwd [--new-password-file FILE] [repository options]
 *
 * Every key file wraps the same master key under its own password, so adding and removing keys
 * never touches the data. passwd (src/engine/change-password.ts) adds the new key before removing
 * every key of the old password, and ends with exactly one key for the new password and none for
 * the old, or says it did not: interrupted, both passwords open the repository, and the same
 * command run again finishes the change without adding a second key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { addNewKey, removeOldKeys, type Repository } from '../api/internal.js';
import { holdfastError } from '../errors/holdfast-error.js';
import { exitCodes } from './exit-codes.js';
import { UsageError } from './export-command.js';
import { readPasswordFromTerminal } from './password-prompt.js';
import { Reporter } from './reporter.js';
import { keyOwner, readPassword, repositoryOptionSpec, repositoryOptionsUsage, repositoryPlace, runInRepository, type RepositoryPlace } from './repository-options.js';
import { printTable } from './snapshots-command.js';

export const keyUsage = `Usage: holdfast key list
       holdfast key add [--new-password-file FILE]
       holdfast key remove ID
       holdfast key passwd [--new-password-file FILE]

list shows every key (* marks the one the password given opens), add adds a password, remove
takes a key out by its id (a unique prefix; never the key in use nor the only key, and with a
warning when the default repository's key file opens it), and passwd replaces the password
given by a new one (never an empty one): it ends with one key for the new password and none for
the old (every key the old password opens goes). Interrupted, both passwords open the
repository; run the same passwd again to finish. The new password comes from --new-password-file FILE, else
HOLDFAST_NEW_PASSWORD, else it is asked for twice on the terminal.

${repositoryOptionsUsage}`;

const shortIdCharacters = 8;

export async function keyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...repositoryOptionSpec, 'new-password-file': { type: 'string' } },
  });
  if (values.help) {
    process.stdout.write(keyUsage);
    return exitCodes.ok;
  }
  const [action, ...rest] = positionals;
  if (action !== 'list' && action !== 'add' && action !== 'remove' && action !== 'passwd') throw new UsageError('give list, add, remove ID or passwd');
  if (action === 'remove' && rest.length !== 1) throw new UsageError('give one key ID to remove');
  if (action !== 'remove' && rest.length > 0) throw new UsageError(`key ${action} takes no further arguments`);
  const reporter = new Reporter({ verb: 'key', json: values.json, quiet: values.quiet, jsonStream: process.stdout });
  const place = repositoryPlace(values);
  const password = await readPassword(values, place, place.location);
  const session = { place, password, loadIndex: false };
  if (action === 'list') return runInRepository(values, reporter, { ...session, readOnly: true }, ({ repository }) => listKeys(repository, values.json));
  if (action === 'remove') {
    return runInRepository(values, reporter, session, async ({ repository }) => {
      const name = await findKey(repository, rest[0]!);
      const defaultKeyFile = await defaultKeyFileOpening(repository, name, place);
      await repository.removeKey(name);
      if (defaultKeyFile !== null) {
        reporter.problem('warning', defaultKeyFile, `it opened the key just removed (${name.slice(0, shortIdCharacters)}) and no longer opens the repository: from now on give the password of another key (HOLDFAST_PASSWORD, HOLDFAST_PASSWORD_FILE or --password-file)`);
      }
      if (values.json) process.stdout.write(`${JSON.stringify({ type: 'removed', key: name, shortId: name.slice(0, shortIdCharacters) })}\n`);
      else process.stdout.write(`removed key ${name.slice(0, shortIdCharacters)}\n`);
      return exitCodes.ok;
    });
  }
  let newPassword: Buffer | null = null;
  let oldPassword: Buffer | null = null;
  let oldKey = '';
  let added: { name: string; reused: boolean } = { name: '', reused: false };
  const status = await runInRepository(values, reporter, session, async ({ repository }) => {
    // Asked for once the repository opened: the password in use is asked first, and only once.
    newPassword = await readNewPassword(values['new-password-file']);
    oldPassword = typeof password === 'function' ? await password() : password;
    oldKey = repository.keyName;
    if (action === 'add') added = { name: await repository.addKey(newPassword, keyOwner()), reused: false };
    else added = await addNewKey(repository, newPassword, keyOwner());
    if (added.reused) reporter.note('reused-key', { key: added.name }, `holdfast: key ${added.name.slice(0, shortIdCharacters)} already opens with the new password (an interrupted key passwd?); using it`);
    return exitCodes.ok;
  });
  if (status !== exitCodes.ok) return status;
  if (action === 'add') {
    const shortId = added.name.slice(0, shortIdCharacters);
    if (values.json) process.stdout.write(`${JSON.stringify({ type: 'added', key: added.name, shortId })}\n`);
    else process.stdout.write(`added key ${shortId}\n`);
    return exitCodes.ok;
  }
  // The library never removes the key a session opened with; a session opened with the new
  // password removes the old keys, which also proves the new key works before an old one goes.
  return runInRepository(values, reporter, { ...session, password: newPassword! }, async ({ repository }) => {
    const defaultKeyFile = await defaultKeyFileOpening(repository, oldKey, place);
    const change = await removeOldKeys(repository, oldPassword!, newPassword!);
    if (defaultKeyFile !== null) reporter.problem('warning', defaultKeyFile, 'it opened the old password\'s key and no longer opens the repository: from now on give the new password (HOLDFAST_PASSWORD, HOLDFAST_PASSWORD_FILE or --password-file)');
    const shortId = change.key.slice(0, shortIdCharacters);
    const removed = change.removed.map((name) => name.slice(0, shortIdCharacters));
    if (values.json) process.stdout.write(`${JSON.stringify({ type: 'changed', key: change.key, shortId, removed: change.removed })}\n`);
    else process.stdout.write(`changed the password: key ${shortId} opens with the new one; removed ${removed.length === 0 ? 'no key' : `key${removed.length === 1 ? '' : 's'} ${removed.join(', ')}`}\n`);
    return exitCodes.ok;
  });
}

async function listKeys(repository: Repository, json: boolean): Promise<number> {
  const keys = (await repository.listKeys()).sort((a, b) => a.summary.created.localeCompare(b.summary.created) || a.name.localeCompare(b.name));
  if (json) {
    for (const key of keys) process.stdout.write(`${JSON.stringify({ type: 'key', id: key.name, shortId: key.name.slice(0, shortIdCharacters), current: key.current, user: key.summary.username, host: key.summary.hostname, created: key.summary.created })}\n`);
    return exitCodes.ok;
  }
  const rows = keys.map((key) => [key.current ? '*' : '', key.name.slice(0, shortIdCharacters), key.summary.username, key.summary.hostname, key.summary.created.replace('T', ' ').replace(/\.\d+Z$/, 'Z')]);
  printTable([' ', 'ID', 'User', 'Host', 'Created'], rows);
  return exitCodes.ok;
}

/** The one key whose name begins with `prefix`. */
async function findKey(repository: Repository, prefix: string): Promise<string> {
  const fail = (reason: string): Error => holdfastError('HOLDFAST_USAGE', { operation: 'find key', path: prefix }, reason);
  if (!/^[0-9a-f]+$/.test(prefix)) throw fail('give a key id (hex) as "holdfast key list" shows it');
  const matches = (await repository.listKeys()).filter((key) => key.name.startsWith(prefix));
  if (matches.length === 0) throw fail('no key has this id');
  if (matches.length > 1) throw fail(`${matches.length} keys begin with it; give more of the id`);
  return matches[0]!.name;
}

/** The default repository's generated key file when it opens key `name`, else null. */
async function defaultKeyFileOpening(repository: Repository, name: string, place: RepositoryPlace): Promise<string | null> {
  const file = place.defaultKeyFile;
  if (file === null || !existsSync(file)) return null;
  return (await repository.keyOpensWith(name, readFileSync(file))) ? file : null;
}

async function readNewPassword(file: string | undefined): Promise<Buffer> {
  let password: Buffer;
  if (file !== undefined) password = Buffer.from(readFileSync(file, 'utf8').replace(/\r?\n$/, ''), 'utf8');
  else if (process.env['HOLDFAST_NEW_PASSWORD'] !== undefined) password = Buffer.from(process.env['HOLDFAST_NEW_PASSWORD'], 'utf8');
  else if (process.stdin.isTTY) {
    password = await readPasswordFromTerminal('New password: ');
    const again = await readPasswordFromTerminal('New password again: ');
    if (!password.equals(again)) throw new UsageError('the two new passwords differ');
  } else throw new UsageError('no new password: give --new-password-file FILE or set HOLDFAST_NEW_PASSWORD (a prompt needs a terminal)');
  if (password.length === 0) throw new UsageError('the new password is empty');
  return password;
}
