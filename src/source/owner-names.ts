/**
 * User and group names of this machine, from /etc/passwd and /etc/group (the files NSS reads
 * first; holdfast does not load NSS modules such as LDAP). Read once, then answered from memory.
 * An id without an entry has no name; archives then carry the number alone.
 */
import { readFile } from 'node:fs/promises';

interface Database {
  nameById: Map<number, string>;
  idByName: Map<string, number>;
}

/** Files larger than this are not user databases; holdfast then goes by numbers alone. */
const databaseBytesMax = 64 * 1024 * 1024;

async function readDatabase(path: string): Promise<Database> {
  const database: Database = { nameById: new Map(), idByName: new Map() };
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > databaseBytesMax) return database;
    text = bytes.toString('utf8');
  } catch {
    return database;
  }
  for (const line of text.split('\n')) {
    const [name, , idText] = line.split(':');
    if (name === undefined || idText === undefined || name === '' || name.startsWith('#')) continue;
    const id = Number(idText);
    if (!Number.isSafeInteger(id) || id < 0) continue;
    if (!database.nameById.has(id)) database.nameById.set(id, name);
    if (!database.idByName.has(name)) database.idByName.set(name, id);
  }
  return database;
}

export class OwnerNames {
  readonly #users: Database;
  readonly #groups: Database;

  private constructor(users: Database, groups: Database) {
    this.#users = users;
    this.#groups = groups;
  }

  static async load(options: { passwdPath?: string; groupPath?: string } = {}): Promise<OwnerNames> {
    const [users, groups] = await Promise.all([readDatabase(options.passwdPath ?? '/etc/passwd'), readDatabase(options.groupPath ?? '/etc/group')]);
    return new OwnerNames(users, groups);
  }

  userName(uid: number): string | null {
    return this.#users.nameById.get(uid) ?? null;
  }

  groupName(gid: number): string | null {
    return this.#groups.nameById.get(gid) ?? null;
  }

  /** The local id of a name, or null when this machine has no such user or group. */
  idOf(kind: 'user' | 'group', name: string): number | null {
    return (kind === 'user' ? this.#users : this.#groups).idByName.get(name) ?? null;
  }
}
