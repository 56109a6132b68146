/**
 * key passwd: the password given is replaced by a new one. When it ends it has left exactly one
 * key file for the new password and none for the old (two keys may share a password: every one
 * the old password opens goes), or it says that it did not.
 *
 * In two sessions, so that the key removed is never the one a session opened with and the new
 * key is proven to open the repository before an old one goes:
 *  1. opened with the old password: addNewKey() adds a key for the new password, unless one is
 *     there already (a passwd interrupted after its step 1), which is then used;
 *  2. opened with the new password: removeOldKeys() removes every key the old password opens,
 *     and every other key the new one opens, then reads the keys again to verify.
 *
 * Interrupted (killed) between or inside the steps, both passwords open the repository; running
 * the same `key passwd` again (old password, same new password) finishes it without adding a
 * second key. Once every old key is gone the old password opens nothing: the change is done.
 */
import { HoldfastError, holdfastError, isErrorCode, SystemCallError } from '../errors/holdfast-error.js';
import { openKeyFile } from '../repo/key-file.js';
import type { KeyOptions, Repository } from '../repo/repository.js';

export interface NewKey {
  name: string;
  /** True when a key for the new password was already there (an interrupted passwd) and is used. */
  reused: boolean;
}

export interface PasswordChange {
  /** The one key the new password opens. */
  key: string;
  /** Keys removed: those the old password opened, and extra ones for the new password. */
  removed: string[];
}

/**
 * The key files `password` opens, in listed order: one key derivation per key file. Damaged
 * key files (they open with no password) and ones removed meanwhile are left out; a key file
 * that cannot be read (EIO) throws, since it may be one of the password's.
 */
export async function keysOpenedBy(repository: Repository, password: Buffer): Promise<string[]> {
  const opened: string[] = [];
  for (const file of await repository.backend.list('keys')) {
    try {
      const bytes = await repository.backend.load('keys', file.name);
      await openKeyFile(bytes, password, { path: `${repository.backend.location}/keys/${file.name}` });
      opened.push(file.name);
    } catch (error) {
      // Wrong password or damaged: not opened. Removed meanwhile: gone. A failed read (EIO) throws.
      if (isErrorCode(error, 'ENOENT')) continue;
      if (!(error instanceof HoldfastError) || error instanceof SystemCallError) throw error;
    }
  }
  return opened;
}

/** Step 1, in a session opened with the old password: a key for the new password (see above). */
export async function addNewKey(repository: Repository, newPassword: Buffer, options: KeyOptions): Promise<NewKey> {
  const existing = await keysOpenedBy(repository, newPassword);
  if (existing.includes(repository.keyName)) {
    throw holdfastError('HOLDFAST_USAGE', { operation: 'change password of', path: repository.backend.location }, 'the new password is the one given');
  }
  const first = existing[0];
  if (first !== undefined) return { name: first, reused: true };
  return { name: await repository.addKey(newPassword, options), reused: false };
}

/**
 * Step 2, in a session opened with the new password: removes every key `oldPassword` opens and
 * every key but this session's that the new one opens, then verifies that the old password opens
 * none and the new one only this session's key; HOLDFAST_INTEGRITY saying what is left otherwise
 * (a key added beside it meanwhile, a removal that did not take).
 */
export async function removeOldKeys(repository: Repository, oldPassword: Buffer, newPassword: Buffer): Promise<PasswordChange> {
  const extra = (await keysOpenedBy(repository, newPassword)).filter((name) => name !== repository.keyName);
  const removed: string[] = [];
  for (const name of [...(await keysOpenedBy(repository, oldPassword)), ...extra]) {
    try {
      await repository.removeKey(name);
    } catch (error) {
      // Removed meanwhile (another passwd): what matters is that it is gone.
      if (!isErrorCode(error, 'ENOENT')) throw error;
    }
    removed.push(name);
  }
  const oldLeft = await keysOpenedBy(repository, oldPassword);
  const newKeys = await keysOpenedBy(repository, newPassword);
  if (oldLeft.length > 0 || newKeys.length !== 1 || newKeys[0] !== repository.keyName) {
    const short = (names: string[]): string => (names.length === 0 ? 'none' : names.map((name) => name.slice(0, 8)).join(', '));
    const next = oldLeft.length > 0 ? 'run the same "holdfast key passwd" again' : 'remove the extra keys with "holdfast key remove ID"';
    throw holdfastError(
      'HOLDFAST_INTEGRITY',
      { operation: 'change password of', path: repository.backend.location },
      `the password change did not finish: the old password still opens keys ${short(oldLeft)}, the new one opens keys ${short(newKeys)}; ${next}`,
    );
  }
  return { key: repository.keyName, removed };
}
